"""Names: folding, romaji, and which typed queries find which person."""

from __future__ import annotations

import pytest

from events.names import fold, passport, query_keys, romaji, search_keys

HANAKO = search_keys("山田", "花子", "ヤマダ", "ハナコ", None)


def finds(keys: frozenset[str], typed: str) -> bool:
    return bool(query_keys(typed) & keys)


@pytest.mark.parametrize(
    "typed",
    ["Yamada Hanako", "hanako yamada", "やまだ", "ヤマダ ハナコ", "山田花子", "山田　花子",
     "ﾔﾏﾀﾞ ﾊﾅｺ", "YAMADA", "花子", "はなこ やまだ", "ｙａｍａｄａ　ｈａｎａｋｏ", "Yamada・Hanako"],
)  # fmt: skip
def test_every_way_of_typing_finds_yamada_hanako(typed: str) -> None:
    assert finds(HANAKO, typed)


@pytest.mark.parametrize("typed", ["Yamada Taro", "やまもと", "田中", "hana", "山田花"])
def test_other_names_and_fragments_do_not(typed: str) -> None:
    assert not finds(HANAKO, typed)


def test_fold_normalizes_width_kana_case_spaces_and_dots() -> None:
    assert fold("ﾔﾏﾀﾞ　ﾊﾅｺ") == fold("やまだはなこ") == "やまだはなこ"
    assert fold("ジョン・スミス") == "じょんすみす"
    assert fold("  O'Brien-Smith ") == "obriensmith"
    assert fold("José Müller") == "josemuller"
    assert fold("Straße") == "strasse"
    assert fold("ｋａｔｏ") == "kato"


def test_fold_keeps_voiced_kana_and_the_long_vowel_mark() -> None:
    assert fold("ガーデン") == "がーでん"
    assert fold("ｶﾞｰﾃﾞﾝ") == "がーでん"


@pytest.mark.parametrize(
    ("reading", "expected"),
    [("やまだ", "yamada"), ("シンイチ", "shinichi"), ("じゅんいちろう", "junichirou"),
     ("はっとり", "hattori"), ("まっちゃん", "matchan"), ("ちえ", "chie"), ("つよし", "tsuyoshi"),
     ("ふじい", "fujii"), ("ヤマダ", "yamada"), ("山田", "")],
)  # fmt: skip
def test_romaji_is_hepburn_of_kana_only(reading: str, expected: str) -> None:
    assert romaji(reading) == expected


def test_passport_spelling_shortens_long_vowels() -> None:
    assert passport("kyouko") == "kyoko"
    assert passport("oono") == "ono"
    assert passport("ohno") == "ono"
    assert passport("yuuki") == "yuki"
    assert passport("honma") == "homma"
    assert passport("ohashi") == "ohashi"  # h before a vowel is a consonant


@pytest.mark.parametrize(
    "typed", ["Kyoko Sato", "kyouko satou", "Satoh Kyoko", "佐藤京子", "サトウ"]
)
def test_long_vowels_typed_either_way_find_sato_kyoko(typed: str) -> None:
    keys = search_keys("佐藤", "京子", "サトウ", "キョウコ", None)
    assert finds(keys, typed)


def test_ohno_and_homma_in_passport_spelling() -> None:
    assert finds(search_keys("大野", "翔", "オオノ", "ショウ"), "Ohno Sho")
    assert finds(search_keys("本間", "健", "ホンマ", "ケン"), "Homma")
    assert finds(search_keys("本間", "健", "ホンマ", "ケン"), "honma ken")


@pytest.mark.parametrize(
    "typed", ["John Smith", "smith john", "Smith, John", "SMITH", "john", "JOHN  SMITH"]
)
def test_english_names_in_either_order(typed: str) -> None:
    assert finds(search_keys("Smith", "John", None, None, None), typed)


def test_english_names_with_marks_and_apostrophes() -> None:
    keys = search_keys("O'Connor", "Zoë", None, None, None)
    assert finds(keys, "zoe oconnor")
    assert finds(keys, "O’Connor")
    assert not finds(keys, "connor")


def test_display_name_counts_whole_and_word_by_word() -> None:
    keys = search_keys(None, None, None, None, "Hana Yamada-Lee")
    assert {"hanayamadalee", "hana", "yamadalee"} <= keys
    assert finds(keys, "hana yamada-lee")


def test_nothing_given_gives_no_keys_and_blank_queries_match_nothing() -> None:
    assert search_keys() == frozenset()
    assert query_keys("  ・ ") == frozenset()
    assert "" not in search_keys("山田", None, None, None, None)


def test_reading_without_kanji_name_is_enough() -> None:
    keys = search_keys(None, None, "タナカ", "イチロウ", None)
    assert finds(keys, "Tanaka Ichiro")
    assert finds(keys, "たなか いちろう")
