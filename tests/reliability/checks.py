"""What the fault tests assert about the database and the fake platform afterwards."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from storage.engine import create_engine, session_factory
from storage.issues import Issue
from storage.models import InboxEvent, OutboxMessage
from tests.fakes import FakeRelayPlatform

ANSWER_KEYS = {
    "section",
    "work",
    "problem",
    "ideal",
    "frequency",
    "minutes",
    "staff",
    "ideas",
    "contact",
}


@dataclass
class Outcome:
    inbox: Counter[str]
    outbox: Counter[str]
    issues: list[Issue]
    event_ids: Counter[str]
    outbox_keys: set[str]


async def read_outcome(url: str) -> Outcome:
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            inbox = Counter(
                dict(
                    (
                        await session.execute(
                            select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
                        )
                    ).all()
                )
            )
            outbox = Counter(
                dict(
                    (
                        await session.execute(
                            select(OutboxMessage.status, func.count()).group_by(
                                OutboxMessage.status
                            )
                        )
                    ).all()
                )
            )
            issues = list(await session.scalars(select(Issue)))
            event_ids = Counter(await session.scalars(select(InboxEvent.event_id)))
            keys = set(await session.scalars(select(OutboxMessage.idempotency_key)))
    finally:
        await engine.dispose()
    return Outcome(inbox, outbox, issues, event_ids, keys)


async def wait_drained(url: str, seconds: float = 120) -> Outcome:
    """Until nothing is pending in the inbox or the outbox (or the time runs out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        outcome = await read_outcome(url)
        busy = outcome.inbox["pending"] + outcome.outbox["pending"] + outcome.outbox["sending"]
        if busy == 0 or loop.time() > deadline:
            return outcome
        await asyncio.sleep(0.25)


def assert_exactly_once(
    outcome: Outcome, acked: list[str], people: list[str], platform: FakeRelayPlatform
) -> dict[str, int]:
    """Every acked event handled once, every report stored once, every reply delivered."""
    assert set(acked) <= set(outcome.event_ids), "an acknowledged event was lost"
    assert max(outcome.event_ids.values()) == 1, "an event was stored twice"
    assert outcome.inbox["failed"] == 0 and outcome.inbox["pending"] == 0, outcome.inbox
    titles = Counter(issue.title for issue in outcome.issues)
    assert titles == Counter(f"業務{p}" for p in people), titles
    for issue in outcome.issues:
        assert set(issue.answers) == ANSWER_KEYS and issue.answers["staff"] == 3
    assert outcome.outbox["dead"] == 0 and outcome.outbox["pending"] == 0, outcome.outbox
    delivered = Counter(d.idempotency_key for d in platform.deliveries)
    assert outcome.outbox_keys <= set(delivered), "a reply never reached the platform"
    assert set(delivered) <= outcome.outbox_keys, "the platform got a message dxbot never queued"
    return {
        "acked": len(acked),
        "events": len(outcome.event_ids),
        "issues": len(outcome.issues),
        "replies": len(outcome.outbox_keys),
        "deliveries": len(platform.deliveries),
        "repeated_deliveries": sum(n - 1 for n in delivered.values()),
    }
