"""Prometheus metrics for ``GET /metrics``: what an operator watches.

Each Runtime has its own registry, so several in one process (tests) do not collide.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("dxbot_events_received", "Events stored", ["adapter"], registry=r)
        self.duplicates = Counter(
            "dxbot_events_duplicated", "Repeated deliveries acknowledged", ["adapter"], registry=r
        )
        self.rejected = Counter(
            "dxbot_events_rejected", "Requests refused", ["adapter", "reason"], registry=r
        )
        self.handler_seconds = Histogram(
            "dxbot_handler_seconds",
            "Time to handle one event (listener and its transaction)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.outbox_depth = Gauge("dxbot_outbox_depth", "Messages waiting to be sent", registry=r)
        self.outbox_oldest = Gauge(
            "dxbot_outbox_oldest_seconds", "Age of the oldest unsent message", registry=r
        )
        self.outbox_dead = Gauge("dxbot_outbox_dead", "Dead-lettered messages", registry=r)
        self.delivery_failures = Counter(
            "dxbot_deliveries_failed",
            "Send attempts that failed",
            ["adapter", "retryable"],
            registry=r,
        )
        self.job_runs = Counter("dxbot_scheduler_runs", "Scheduled job runs", ["job"], registry=r)
        self.job_misses = Counter(
            "dxbot_scheduler_misses", "Scheduled runs missed or failed", ["job"], registry=r
        )

    async def refresh_outbox(self, session: AsyncSession, now: datetime) -> None:
        """Outbox gauges come from the database: they are true for every process."""
        waiting = (OutboxMessage.status.in_(("pending", "sending")),)
        depth, oldest = (
            await session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(*waiting)
            )
        ).one()
        dead = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "dead")
        )
        self.outbox_depth.set(depth)
        self.outbox_oldest.set((now - oldest).total_seconds() if oldest else 0)
        self.outbox_dead.set(dead or 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
