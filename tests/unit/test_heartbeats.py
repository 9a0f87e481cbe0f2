"""What a reader of the heartbeats concludes about a stage."""

from __future__ import annotations

from events.contracts.heartbeat import Heartbeat
from services.platform.heartbeats import stage_health

NOW = 1_800_000_000_000


def beat(instance: str, state: str, age_s: float, **more: object) -> Heartbeat:
    return Heartbeat(
        stage="worker",
        instance=instance,
        state=state,
        at_ms=int(NOW - age_s * 1000),
        started_at_ms=NOW - 60_000,
        interval_s=2.0,
        **more,
    )  # type: ignore[arg-type]


def test_a_recent_running_beat_is_up_with_its_lag() -> None:
    health = stage_health("worker", [beat("h:1", "running", 1, lag={"touchpoints": 7})], NOW)
    assert (health.state, health.lag) == ("up", {"touchpoints": 7})


def test_a_stale_beat_is_down_and_says_for_how_long() -> None:
    health = stage_health("worker", [beat("h:1", "running", 9)], NOW)
    assert health.state == "down" and health.reason == "no heartbeat for 9 s"


def test_an_exit_a_supervisor_saw_is_down_at_once() -> None:
    dead = beat("h:1", "exited", 0.1, detail={"exit": "was killed by SIGKILL"})
    health = stage_health("worker", [dead], NOW)
    assert health.state == "down" and health.reason == "was killed by SIGKILL"


def test_one_live_instance_of_several_keeps_the_stage_up() -> None:
    beats = [beat("h:1", "exited", 0.5), beat("h:2", "running", 0.5), beat("h:3", "starting", 1)]
    health = stage_health("worker", beats, NOW)
    assert health.state == "up" and len(health.instances) == 2


def test_only_starting_instances_are_starting_and_nothing_seen_is_down() -> None:
    assert stage_health("worker", [beat("h:1", "starting", 1)], NOW).state == "starting"
    assert stage_health("projector", [beat("h:1", "running", 1)], NOW).reason == "no heartbeat seen"


def test_beats_round_trip_through_their_encoding() -> None:
    one = beat("h:1", "running", 1, lag={"touchpoints": 3}, last_error="x: boom",
               detail={"touchpoints_partitions": [0, 1]})  # fmt: skip
    assert Heartbeat.decode(one.encode()) == one
