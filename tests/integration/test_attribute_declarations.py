"""Declared attributes at the ingest API: what a tenant declared is what its profiles may carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import ApiServer, cli, random_tenant

pytestmark = pytest.mark.integration


def profile(attributes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "customer.profile_updated", "schema_version": 1,
            "occurred_at": "2025-01-01T00:00:00Z", "source": "crm",
            "identities": {"customer_ref": "C1"}, "payload": {"attributes": attributes}}  # fmt: skip


def post(api: ApiServer, key: str, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(api.url + "/v1/events", json=events, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip


def test_undeclared_and_mistyped_attributes_are_refused_by_index_and_pointer(
    api: ApiServer,
) -> None:
    tenant = random_tenant()
    key = api.key(tenant)
    assert post(api, key, [profile({"tier": "gold"})]).status_code == 422  # nothing declared yet
    declared = cli(api.env, "attributes", "declare", "tier", "enum", "--values", "gold", "silver",
                   "--tenant", tenant)  # fmt: skip
    assert "declared tier enum(gold, silver)" in declared.stdout
    cli(api.env, "attributes", "declare", "points", "integer", "--tenant", tenant)
    listed = cli(api.env, "attributes", "list", "--tenant", tenant).stdout.splitlines()
    assert listed == ["points\tinteger", "tier\tenum(gold, silver)"]

    ok = post(api, key, [profile({"tier": "gold", "points": 3})])
    assert ok.status_code == 202, ok.text
    refused = post(api, key, [profile({"tier": "gold"}), profile({"points": "3", "colour": "red"})])
    assert refused.status_code == 422
    body = refused.json()
    assert body["message"].startswith("1 of 2 events are invalid; nothing was written")
    assert sorted((e["index"], e["pointer"]) for e in body["errors"]) == [
        (1, "/payload/attributes/colour"), (1, "/payload/attributes/points")]  # fmt: skip
    by_pointer = {e["pointer"]: e["message"] for e in body["errors"]}
    assert "declared integer" in by_pointer["/payload/attributes/points"]
    assert "not declared for this tenant" in by_pointer["/payload/attributes/colour"]

    other = api.key(random_tenant())  # declarations are the tenant's own
    assert post(api, other, [profile({"tier": "gold"})]).status_code == 422
    cli(api.env, "attributes", "remove", "tier", "--tenant", tenant)
    assert post(api, key, [profile({"tier": "gold"})]).status_code == 422
    gone = cli(api.env, "attributes", "remove", "tier", "--tenant", tenant, check=False)
    assert gone.returncode == 1 and "has no attribute 'tier'" in gone.stderr
    bad = cli(api.env, "attributes", "declare", "tier", "enum", "--tenant", tenant, check=False)
    assert bad.returncode == 2 and "needs its values" in bad.stderr


def test_publishing_straight_to_kafka_checks_the_declarations_too(
    api: ApiServer, tmp_path: Path
) -> None:
    tenant = random_tenant()
    cli(api.env, "attributes", "declare", "points", "integer", "--tenant", tenant)
    lines = [profile({"points": 3}), profile({"points": "three"}), profile({"colour": "red"})]
    path = tmp_path / "profiles.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    done = cli(api.env, "publish", str(path), "--kafka", "--tenant", tenant, check=False)
    assert done.returncode == 1, done.stderr
    assert "accepted 1" in done.stderr and "rejected 2" in done.stderr
    assert (
        "line 2: event 0: /payload/attributes/points: attribute 'points' is declared integer"
        in done.stderr
    )
    assert (
        "line 3: event 0: /payload/attributes/colour: attribute 'colour' is not declared"
        in done.stderr
    )
