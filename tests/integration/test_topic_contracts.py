"""Every producer's real output fits its topic's contract (``schemas/topics/``).

The stream pipeline run gives resolved touchpoints (with merge, detach and
erasure controls), customer events and scores; dead letters, identity
commands and heartbeats are read from the session's broker, written by the
tests that ran before this one (the pipeline's worker, the commands tests,
``test_segments``' refreshers).
"""

from __future__ import annotations

import asyncio

import jsonschema
import orjson
import pytest

from events.contracts.schemas import topic_schema
from events.topics import (
    CUSTOMERS,
    DEADLETTER,
    HEARTBEATS,
    IDENTITY_COMMANDS,
    RESOLVED,
    SCORES,
    SEGMENTS,
)
from tests.integration.pipeline import Run
from tests.support import read_since


def _check(topic: str, bodies: list[object]) -> None:
    validator = jsonschema.Draft7Validator(topic_schema(topic))
    problems = [
        (i, e.message) for i, body in enumerate(bodies) for e in validator.iter_errors(body)
    ]
    assert not problems, f"{topic}: {problems[:5]}"


def test_the_pipelines_outputs_fit_their_contracts(pipeline_run: Run) -> None:
    assert pipeline_run.resolved and pipeline_run.customers and pipeline_run.scores
    _check(RESOLVED, list(pipeline_run.resolved))
    _check(CUSTOMERS, list(pipeline_run.customers))
    _check(SCORES, list(pipeline_run.scores))
    kinds = {c["type"] for c in pipeline_run.customers}
    assert {"CustomerCreated", "IdentityLinked", "CustomersMerged", "MergedIntoSurvivor"} <= kinds
    assert any(r.get("control") == "merged_into" for r in pipeline_run.resolved)


@pytest.mark.parametrize("topic", [DEADLETTER, IDENTITY_COMMANDS, HEARTBEATS, SEGMENTS])
def test_what_the_session_wrote_fits_its_contract(kafka_bootstrap: str, topic: str) -> None:
    bodies = [orjson.loads(r.value) for r in asyncio.run(read_since(kafka_bootstrap, {}, topic))]
    if topic == DEADLETTER:  # other tests write hand-made bad records into the log on purpose
        bodies = [b for b in bodies if isinstance(b, dict) and "version" in b]
    assert bodies, f"the session wrote nothing to {topic} before this test"
    _check(topic, bodies)
