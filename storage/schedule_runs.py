"""Run keys: one row per scheduled job and period, so several processes fire each run once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.dialect_insert import session_insert
from storage.models import Base


class ScheduleRun(Base):
    __tablename__ = "schedule_runs"

    run_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    claimed_at: Mapped[datetime]
    owner: Mapped[str] = mapped_column(String(100))


async def claim_run(session: AsyncSession, key: str, now: datetime, owner: str) -> bool:
    """True for the one transaction that claims ``key``; the claim commits with its work,
    so a run whose work rolls back can be claimed again."""
    insert = session_insert(session)
    result = await session.execute(
        insert(ScheduleRun)
        .values(run_key=key, claimed_at=now, owner=owner)
        .on_conflict_do_nothing(index_elements=["run_key"])
    )
    return bool(getattr(result, "rowcount", 0))
