"""Suggested duplicates: what must be suggested, what must not, the evidence, and the scale."""

from __future__ import annotations

import random

from services.matching.blocking import MAX_BLOCK
from services.matching.clusters import accept
from services.matching.matcher import Matching, find_duplicates
from services.matching.records import Address, CustomerRecord, Name, RecordBuilder
from services.matching.scoring import ACCEPT_SCORE, REVIEW_SCORE, Suggestion

HANAKO = Name("山田", "花子", "ヤマダ", "ハナコ")


def record(customer_id: str, **fields: object) -> CustomerRecord:
    return CustomerRecord(customer_id, **fields)  # type: ignore[arg-type]


def home(postal: str, line1: str = "", line2: str = "") -> tuple[Address, ...]:
    return (Address(postal_code=postal, line1=line1, line2=line2),)


def pairs(matching: Matching, at_least: float = REVIEW_SCORE) -> dict[tuple[str, str], Suggestion]:
    return {(s.a, s.b): s for s in matching.suggestions if s.score >= at_least}


def codes(suggestion: Suggestion) -> set[str]:
    return {e.code for e in suggestion.evidence}


def test_kanji_kana_and_romaji_spellings_at_one_postal_code_are_one_person() -> None:
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), addresses=home("100-0001", "千代田1-2-3")),
            record("b", names=(Name("ヤマダ", "ハナコ"),), addresses=home("100-0001")),
            record("c", names=(Name.parse("Hanako Yamada"),), addresses=home("1000001")),
        ]
    )
    accepted = pairs(found, ACCEPT_SCORE)
    assert set(accepted) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert {e.detail for e in accepted[("a", "b")].evidence if e.code == "name.full"} == {"reading"}
    assert {e.detail for e in accepted[("a", "c")].evidence if e.code == "name.full"} == {"romaji"}
    assert accepted[("a", "c")].rules == ("name_and_address",)
    assert accept(found).groups == [frozenset("abc")]


def test_namesakes_elsewhere_or_in_another_house_are_not_suggested() -> None:
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), addresses=home("100-0001", "千代田1-2-3")),
            record("b", names=(HANAKO,), addresses=home("150-0001", "神宮前1-2-3")),
            record("c", names=(HANAKO,), addresses=home("100-0001", "千代田３丁目２番１号")),
            record(
                "d",
                names=(Name("Yamada", "Hanako"),),
                birthdays=("1980-01-02",),
                addresses=home("200-0002"),
            ),
            record("e", names=(HANAKO,), birthdays=("1975-05-05",), addresses=home("200-0002")),
        ]
    )
    assert not pairs(found)
    assert ("d", "e") in found.apart  # one name, two birthdays
    assert ("a", "c") in found.apart  # another house in the same postal code


def test_one_house_written_three_ways_is_one_address() -> None:
    found = find_duplicates(
        [
            record(
                "a", names=(HANAKO,), addresses=home("〒100-0001", "千代田1-2-3", "サンハイツ 203")
            ),
            record(
                "b",
                names=(HANAKO,),
                addresses=home("１００－０００１", "千代田１－２－３", "サンハイツ203"),
            ),
            record(
                "c",
                names=(HANAKO,),
                addresses=home("100-0001", "千代田1丁目2番3号", "サンハイツ 305"),
            ),
        ]
    )
    assert {"postal_code.same", "address.same"} <= codes(pairs(found, ACCEPT_SCORE)[("a", "b")])
    other_flat = pairs(found)[("a", "c")]  # a namesake upstairs: for a person to judge
    assert "address.other_room" in codes(other_flat) and other_flat.score < ACCEPT_SCORE


def test_a_mistyped_email_with_the_name_is_accepted_and_says_so() -> None:
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), emails=("hanako.yamada1980@example.jp",)),
            record("b", names=(Name("山田", "花子"),), emails=("hanako.yamda1980@example.jp",)),
            record("c", names=(HANAKO,), emails=("hanako.yamada1980@exmaple.jp",)),
            record("d", emails=("hanako.yamada1980@gmial.com",)),
            record("e", emails=("hanako.yamada1980@gmail.com",)),
        ]
    )
    accepted = pairs(found, ACCEPT_SCORE)
    assert {"name.full", "email.typo"} <= codes(accepted[("a", "b")])
    assert "email.domain_typo" in codes(accepted[("a", "c")])
    assert "email.domain_typo" in codes(accepted[("d", "e")])  # gmial.com is nobody's mailbox
    assert "email_typo" in accepted[("a", "b")].rules


def test_emails_differing_only_in_their_number_are_other_people() -> None:
    found = find_duplicates(
        [
            record("a", names=(Name("田中", "太郎"),), emails=("taro.tanaka1980@example.jp",)),
            record("b", names=(Name("田中", "太郎"),), emails=("taro.tanaka1981@example.jp",)),
            record("e", names=(Name("田中", "太郎"),), emails=("taro.tanaka1890@example.jp",)),
            record("c", emails=("hanako@gmail.com",)),
            record("d", emails=("hanako@yahoo.co.jp",)),
        ]
    )
    assert not pairs(found)


def test_one_phone_under_two_country_codes_is_a_variant() -> None:
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), phones=("+819012345678",)),
            record("b", names=(Name.parse("Hanako Yamada"),), phones=("+19012345678",)),
            record("c", phones=("+819012345678",)),
        ]
    )
    accepted = pairs(found, ACCEPT_SCORE)
    assert "phone.variant" in codes(accepted[("a", "b")])
    assert "phone.same" in codes(accepted[("a", "c")])  # listed by both, not linked yet
    assert REVIEW_SCORE <= pairs(found)[("b", "c")].score < ACCEPT_SCORE  # a variant alone: review


def test_a_shared_device_needs_a_name_to_be_accepted() -> None:
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), devices=("dev-1",)),
            record("b", names=(Name("ヤマダ", "ハナコ"),), devices=("dev-1",)),
            record("c", devices=("dev-2",)),
            record("d", devices=("dev-2",)),
            record("e", names=(Name("山田", "太郎", "ヤマダ", "タロウ"),), devices=("dev-1",)),
        ]
    )
    accepted = pairs(found, ACCEPT_SCORE)
    assert set(accepted) == {("a", "b")}
    assert "shared_device" in accepted[("a", "b")].rules
    assert ("c", "d") not in pairs(found)  # a household tablet


def test_family_name_birthday_and_postal_code_but_not_twins() -> None:
    found = find_duplicates(
        [
            record(
                "a",
                names=(HANAKO,),
                birthdays=("1980-01-02",),
                addresses=home("100-0001", "千代田1-2-3"),
            ),
            record(
                "b",
                names=(Name("山田", "Hanako"),),
                birthdays=("1980-01-02",),
                addresses=home("1000001"),
            ),
            record(
                "c",
                names=(Name("山田", "桃子", "ヤマダ", "モモコ"),),
                birthdays=("1980-01-02",),
                addresses=home("100-0001", "千代田1-2-3"),
            ),
            record(
                "d",
                names=(Name("山田", "太郎", "ヤマダ", "タロウ"),),
                birthdays=("1950-03-04",),
                addresses=home("100-0001", "千代田1-2-3"),
            ),
        ]
    )
    accepted = pairs(found, ACCEPT_SCORE)
    assert set(accepted) == {("a", "b")}
    assert "family_birthday_postal" in accepted[("a", "b")].rules
    assert ("a", "c") not in accepted  # twins: one birthday, one house, two given names
    assert ("a", "d") not in pairs(found)  # her father


def test_old_kanji_forms_and_a_whole_name_in_one_field() -> None:
    found = find_duplicates(
        [
            record("a", names=(Name("髙橋", "葵"),), addresses=home("150-0001", "神宮前1-2-3")),
            record("b", names=(Name("高橋", "葵"),), addresses=home("150-0001", "神宮前1-2-3")),
            record("c", names=(Name("高橋\u3000葵"),), addresses=home("150-0001", "神宮前1-2-3")),
        ]
    )
    assert set(pairs(found, ACCEPT_SCORE)) == {("a", "b"), ("a", "c"), ("b", "c")}


def test_a_kanji_given_name_with_another_katakana_family_name_is_another_person() -> None:
    found = find_duplicates(
        [
            record("a", names=(Name("スミス", "蒼太"),), addresses=home("100-0001", "千代田1-2-3")),
            record(
                "b", names=(Name("ジョンソン", "蒼太"),), addresses=home("100-0001", "千代田1-2-3")
            ),
        ]
    )
    assert not pairs(found)


def test_the_same_reading_in_other_kanji_is_weak() -> None:
    found = find_duplicates(
        [
            record(
                "a",
                names=(Name("伊藤", "芽衣", "イトウ", "メイ"),),
                addresses=home("100-0001", "千代田1-2-3"),
            ),
            record(
                "b",
                names=(Name("伊東", "芽衣", "イトウ", "メイ"),),
                addresses=home("100-0001", "千代田1-2-3"),
            ),
        ]
    )
    (suggestion,) = found.suggestions
    assert "name.reading" in codes(suggestion)
    assert suggestion.score < ACCEPT_SCORE


def test_accepting_never_joins_two_customers_found_different() -> None:
    """b (a name and a postal code) fits a and c alike; a and c live in different houses."""
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), addresses=home("100-0001", "千代田1-2-3")),
            record("b", names=(HANAKO,), addresses=home("100-0001")),
            record("c", names=(HANAKO,), addresses=home("100-0001", "千代田4-5-6")),
        ]
    )
    assert set(pairs(found, ACCEPT_SCORE)) == {("a", "b"), ("b", "c")}
    acceptance = accept(found)
    assert acceptance.groups == []
    assert {(s.a, s.b) for s in acceptance.contested} == {("a", "b"), ("b", "c")}


def test_a_loyalty_card_without_its_prefix() -> None:
    found = find_duplicates(
        [
            record("a", names=(HANAKO,), loyalty_ids=("L0100012",)),
            record("b", names=(HANAKO,), loyalty_ids=("100012",)),
        ]
    )
    assert "loyalty_id.variant" in codes(pairs(found, ACCEPT_SCORE)[("a", "b")])


def test_oversized_blocks_are_skipped_and_counted() -> None:
    kiosk = [record(f"c{i}", devices=("dev-kiosk",)) for i in range(MAX_BLOCK + 1)]
    found = find_duplicates(kiosk)
    assert found.skipped_blocks == 1 and found.pairs_compared == 0


def test_the_builder_reads_profiles_and_drops_junk() -> None:
    builder = RecordBuilder("a")
    builder.add_identities(
        {"email": "noreply@example.com", "device_id": "dev-1", "customer_ref": "c-1"}
    )
    builder.add_profile(
        {
            "name": {
                "family": "山田",
                "given": "花子",
                "family_kana": "ヤマダ",
                "given_kana": "ハナコ",
            },
            "emails": ["hanako@example.jp", "test@example.com"],
            "phones": ["+819012345678"],
            "address": {"postal_code": "100-0001", "region": "東京都", "line1": "千代田1-2-3"},
            "birthday": "1980-01-02",
        }
    )
    built = builder.build()
    assert built.names == (HANAKO,)
    assert built.emails == ("hanako@example.jp",)
    assert built.phones == ("+819012345678",) and built.devices == ("dev-1",)
    assert built.addresses == (Address("100-0001", "東京都", "", "千代田1-2-3"),)
    assert built.birthdays == ("1980-01-02",)


FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
          ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
          ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
          ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ")]  # fmt: skip
GIVEN = [("花子", "ハナコ"), ("太郎", "タロウ"), ("陽菜", "ヒナ"), ("蓮", "レン"), ("葵", "アオイ"), ("湊", "ミナト"),
         ("結衣", "ユイ"), ("大翔", "ヒロト"), ("美咲", "ミサキ"), ("翔", "ショウ"), ("健太", "ケンタ"),
         ("真由美", "マユミ"), ("直樹", "ナオキ"), ("恵子", "ケイコ"), ("誠", "マコト"), ("彩", "アヤ"),
         ("拓也", "タクヤ"), ("裕子", "ユウコ"), ("大輔", "ダイスケ"), ("千尋", "チヒロ")]  # fmt: skip


def synthetic(
    count: int, duplicates: int, seed: int
) -> tuple[list[CustomerRecord], set[tuple[str, str]]]:
    """``count`` people (400 names, 3,000 postal codes) and ``duplicates`` second records of some."""
    rng = random.Random(seed)
    postal = [f"{rng.randrange(1000, 9999):04d}{rng.randrange(100):03d}" for _ in range(3000)]
    people = []
    for i in range(count):
        (family, fk), (given, gk) = rng.choice(FAMILY), rng.choice(GIVEN)
        people.append(
            record(
                f"c{i:06d}",
                names=(Name(family, given, fk, gk),),
                emails=(f"user{i}.{rng.choice('abcdefgh')}{rng.choice('ijklmnop')}x@example.jp",),
                phones=(f"+8190{i:08d}",),
                devices=(f"dev-{i}",),
                addresses=home(
                    rng.choice(postal),
                    f"町{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
                ),
                birthdays=(
                    f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                ),
            )
        )
    truth = set()
    for n, original in enumerate(rng.sample(people, duplicates)):
        local, domain = original.emails[0].split("@")
        twin = record(
            f"d{n:06d}",
            names=original.names,
            addresses=original.addresses,
            emails=(f"{local[:-1]}@{domain}",),
        )
        people.append(twin)
        truth.add(tuple(sorted((original.customer_id, twin.customer_id))))
    return people, truth


def test_injected_duplicates_among_many_customers_are_found_and_little_else() -> None:
    """Behaviour at scale (blocking keeps it tractable); the speed is bench/fragmentation.py's."""
    records, truth = synthetic(20_000, 400, seed=7)
    found = find_duplicates(records)
    accepted = {(s.a, s.b) for s in accept(found).accepted}
    assert len(accepted & truth) >= 0.95 * len(truth)
    assert len(accepted - truth) <= 0.01 * len(accepted)
