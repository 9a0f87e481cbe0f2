"""The worker's heartbeat: its group's lag (also its lag gauges), what it processed, its partitions."""

from __future__ import annotations

import logging

import faust

from events.topics import IDENTITY_COMMANDS, RESOLVED, TOUCHPOINTS
from services.identity.stage import IdentityStage
from services.kafka.lag import LagProbe
from services.kafka.output import OutputWriter
from services.platform.heartbeats import Beating, HeartbeatSender, LastError, Vitals
from services.platform.metrics import StageMetrics
from services.platform.settings import Settings


class WorkerBeat:
    """Started once faust runs; ``running`` once it holds partitions."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        metrics: StageMetrics,
        out: OutputWriter,
        identity: IdentityStage,
    ) -> None:
        self.app, self.metrics, self.out, self.identity = app, metrics, out, identity
        self.probe = LagProbe(
            settings.kafka_bootstrap,
            settings.worker_group,
            [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS],
        )
        errors = LastError()
        logging.getLogger().addHandler(errors)
        self.sender = HeartbeatSender(settings.kafka_bootstrap, "worker", self.vitals, errors)
        self._beating: Beating | None = None

    def start(self) -> None:
        self._beating = Beating(self.sender)

    async def stop(self) -> None:
        if self._beating is not None:
            await self._beating.stop()
        await self.probe.stop()

    async def vitals(self) -> Vitals:
        assigned = self.app.consumer.assignment()
        if assigned:
            self.sender.running()
        lag = await self.probe.by_partition()
        if lag is not None:
            self.metrics.set_lag("worker", lag)
        totals: dict[str, int] = {}
        for tp, behind in (lag or {}).items():
            totals[tp.topic] = totals.get(tp.topic, 0) + behind
        partitions = sorted(tp.partition for tp in assigned if tp.topic == TOUCHPOINTS)
        return Vitals(
            self.identity.processed,
            self.out.dead_letters,
            totals,
            {"touchpoints_partitions": partitions},
        )
