"""Merging by hand and the duplicate review queue, over the real pipeline.

A real worker and projection service (``merge_system``): a supervisor merges two customers
(the CLI, then the API), both timelines read as one under the survivor, the history says
who and why, and a detach undoes it; the matcher proposes two registrations of one person,
accepting merges them with the evidence as the why, rejecting keeps a pair out of the queue
for good. Agents, other tenants' ids, self-merges and erased customers are refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from events.topics import CUSTOMERS, DEADLETTER
from tests.integration.merge_system import System, profile, running_system
from tests.samples import call_completed, chat_message
from tests.support import cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(kafka_bootstrap, tmp_path_factory.mktemp("merges")) as running:
        yield running


def _two_customers(system: System, email: str, phone: str) -> tuple[str, str, set[str]]:
    chat = chat_message(identities={"email": email}, occurred_at="2026-11-01T03:00:00Z")
    call = call_completed(identities={"phone": phone}, occurred_at="2026-11-02T03:00:00Z")
    system.publish(chat, call)
    a, b = system.customer_of(chat["event_id"]), system.customer_of(call["event_id"])
    assert a != b
    system.wait_api("both customers projected", lambda: all(
        system.api("GET", f"/v1/customers/{c}").status_code == 200 for c in (a, b)))  # fmt: skip
    return a, b, {chat["event_id"], call["event_id"]}


def _merged(system: System, absorbed: str) -> dict[str, Any]:
    return system.wait_for(CUSTOMERS, f"{absorbed} merged",
                           lambda c: c["type"] == "CustomersMerged"
                           and c["data"]["absorbed_id"] == absorbed)  # fmt: skip


def test_a_manual_merge_reads_as_one_timeline_with_its_history_and_a_detach_undoes_it(
    system: System,
) -> None:
    phone = "+14155550142"
    a, b, events = _two_customers(system, "mia@x.io", phone)
    cli(system.env, "identity", "merge", "--tenant", system.tenant, "--survivor", a,
        "--absorbed", b, "--reason", "same caller, confirmed by phone", "--by", "alice")  # fmt: skip
    merged = _merged(system, b)
    assert merged["customer_id"] == a
    assert merged["data"]["decided"]["requested_by"] == "alice"
    system.wait_api("both timelines under the survivor", lambda: system.timeline(b) == (a, events))
    assert system.timeline(a) == (a, events)
    history = system.api("GET", f"/v1/customers/{b}/merges").json()["merges"]
    [entry] = history
    assert (entry["action"], entry["survivor_id"], entry["merged_id"]) == ("merged", a, b)
    assert (entry["basis"], entry["requested_by"]) == ("manual", "alice")
    assert entry["reason"] == "same caller, confirmed by phone"
    assert system.api("GET", f"/v1/customers/{a}/merges", system.agent).json()["merges"][0][
        "reason"] is None  # an agent sees who and how, not a person's free text  # fmt: skip

    cli(system.env, "identity", "detach", "--tenant", system.tenant, "--kind", "phone",
        "--value", phone, "--reason", "not the same person after all")  # fmt: skip
    detached = system.wait_for(CUSTOMERS, "the phone detached from the survivor",
                               lambda c: c["type"] == "IdentityDetached")  # fmt: skip
    split = detached["data"]["moved_to"]
    assert detached["customer_id"] == a and split not in (a, b)
    later = call_completed(identities={"phone": phone}, occurred_at="2026-11-03T03:00:00Z")
    both = chat_message(identities={"email": "mia@x.io", "phone": phone})
    system.publish(later, both)
    assert system.customer_of(later["event_id"]) == split  # the phone is someone else's now
    assert system.customer_of(both["event_id"]) in (a, split)  # and is never merged back
    system.wait_api("the detach in the history", lambda: any(
        e["action"] == "detached" and e["moved_to"] == split
        for e in system.api("GET", f"/v1/customers/{a}/merges").json()["merges"]))  # fmt: skip


def test_merges_the_api_refuses(system: System) -> None:
    a, b, _ = _two_customers(system, "noa@x.io", "+14155550143")
    body = {"absorbed": b, "reason": "same person"}
    assert (
        system.api("POST", f"/v1/customers/{a}/merge", system.agent, json=body).status_code == 403
    )
    foreign = system.api("POST", f"/v1/customers/{uuid.uuid4()}/merge", json=body)
    assert foreign.status_code == 404
    other = system.api("POST", f"/v1/customers/{a}/merge",
                       json={**body, "absorbed": str(uuid.uuid4())})  # fmt: skip
    assert other.status_code == 404 and other.json()["error"]["where"] == "absorbed"
    itself = system.api("POST", f"/v1/customers/{a}/merge", json={**body, "absorbed": a})
    assert itself.status_code == 409 and "with itself" in itself.json()["error"]["message"]
    no_reason = system.api("POST", f"/v1/customers/{a}/merge", json={"absorbed": b, "reason": ""})
    assert no_reason.status_code == 400
    huge = system.api("POST", f"/v1/customers/{a}/merge", json={**body, "reason": "x" * 100_000})
    assert huge.status_code == 400

    cli(system.env, "identity", "erase", "--tenant", system.tenant, "--customer", b,
        "--reason", "gdpr request 9")  # fmt: skip
    system.wait_api("the erasure projected", lambda: system.api(
        "GET", f"/v1/customers/{b}").status_code == 410)  # fmt: skip
    erased = system.api("POST", f"/v1/customers/{a}/merge", json=body)
    assert erased.status_code == 410 and "erased" in erased.json()["error"]["message"]

    bad = system.api("POST", f"/v1/customers/{a}/merge", json={**body, "absorbed": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_customer_id"
    assert system.api("GET", f"/v1/customers/{uuid.uuid4()}/merges").status_code == 404
    for args in (["--survivor", a, "--absorbed", a], ["--survivor", "x", "--absorbed", a]):
        refused = cli(system.env, "identity", "merge", "--tenant", system.tenant, *args,
                      "--reason", "r", check=False)  # fmt: skip
        assert refused.returncode == 2 and refused.stderr.startswith("identity: ")


def test_accepting_a_suggested_duplicate_merges_the_pair_with_the_evidence_as_why(
    system: System,
) -> None:
    first = profile(("佐藤", "由紀"), "150-0041", "1988-04-12", identities={"email": "yuki@x.io"})
    second = profile(("佐藤", "由紀"), "150-0041", "1988-04-12",
                     identities={"phone": "+819012345678"}, occurred_at="2026-11-21T02:00:00Z")  # fmt: skip
    system.publish(first, second)
    a, b = system.customer_of(first["event_id"]), system.customer_of(second["event_id"])
    pair = tuple(sorted((a, b)))
    system.wait_api("both profiles projected", lambda: all(
        system.api("GET", f"/v1/customers/{c}").status_code == 200 for c in pair))  # fmt: skip
    for path in ("/v1/review/duplicates", "/v1/review/duplicates/run"):
        method = "GET" if path.endswith("duplicates") else "POST"
        assert system.api(method, path, system.agent).status_code == 403

    suggestion = _suggested(system, pair)
    assert suggestion["score"] >= 0.5
    assert {"name.full", "birthday.same"} <= {e["code"] for e in suggestion["evidence"]}
    sid = suggestion["suggestion_id"]
    assert (
        system.api("POST", f"/v1/review/duplicates/{sid}/accept", system.agent).status_code == 403
    )
    accepted = system.api("POST", f"/v1/review/duplicates/{sid}/accept")
    assert accepted.status_code == 202, accepted.text
    survivor, absorbed = accepted.json()["survivor_id"], accepted.json()["absorbed_id"]
    assert survivor == a  # seen first
    merged = _merged(system, absorbed)
    assert merged["data"]["decided"]["basis"] == "suggestion"
    assert "name.full" in merged["data"]["reason"] and "yuki" not in str(merged).lower()
    again = system.api("POST", f"/v1/review/duplicates/{sid}/accept")
    assert again.status_code == 409
    system.wait_api("one timeline", lambda: system.timeline(absorbed)[0] == survivor)
    [entry] = system.api("GET", f"/v1/customers/{survivor}/merges").json()["merges"]
    assert entry["basis"] == "suggestion" and entry["score"] == pytest.approx(suggestion["score"])
    assert "name.full" in entry["rule"]
    assert not any(s["suggestion_id"] == sid for s in _open(system))


def test_a_rejected_pair_is_never_suggested_again(system: System) -> None:
    first = profile(("Tanaka", "Ken"), "150-0042", "1975-01-30", identities={"email": "ken@x.io"})
    second = profile(("Tanaka", "Ken"), "150-0042", "1975-01-30",
                     identities={"phone": "+819087654321"})  # fmt: skip
    system.publish(first, second)
    pair = tuple(sorted(system.customer_of(e["event_id"]) for e in (first, second)))
    system.wait_api("both profiles projected", lambda: all(
        system.api("GET", f"/v1/customers/{c}").status_code == 200 for c in pair))  # fmt: skip
    sid = _suggested(system, pair)["suggestion_id"]
    assert (
        system.api("POST", f"/v1/review/duplicates/{sid}/reject", system.agent).status_code == 403
    )
    rejected = system.api("POST", f"/v1/review/duplicates/{sid}/reject", json={"reason": "twins"})
    assert rejected.status_code == 200, rejected.text
    listed = system.api("GET", "/v1/review/duplicates?status=rejected").json()["suggestions"]
    [decided] = [s for s in listed if s["suggestion_id"] == sid]
    assert decided["note"] == "twins" and decided["decided_by"].startswith("supervisor:")
    assert system.api("POST", f"/v1/review/duplicates/{sid}/accept").status_code == 409
    assert system.api("POST", "/v1/review/duplicates/run").status_code == 200
    assert not any(s["suggestion_id"] == sid for s in _open(system))
    assert system.api("POST", f"/v1/review/duplicates/{uuid.uuid4()}/accept").status_code == 404
    assert system.api("POST", "/v1/review/duplicates/nope/reject").status_code == 400
    assert not [d for d in system.read(DEADLETTER) if d.get("topic") == "identity.commands"]


def _open(system: System) -> list[dict[str, Any]]:
    answer = system.api("GET", "/v1/review/duplicates")
    assert answer.status_code == 200, answer.text
    suggestions: list[dict[str, Any]] = answer.json()["suggestions"]
    return suggestions


def _suggested(system: System, pair: tuple[str, ...]) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def proposed() -> bool:
        assert system.api("POST", "/v1/review/duplicates/run").status_code == 200
        found[:] = [s for s in _open(system) if (s["customer_a"], s["customer_b"]) == pair]
        return bool(found)

    system.wait_api("the pair suggested", proposed)
    return found[0]
