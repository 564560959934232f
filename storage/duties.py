"""Working-group duties (部会の定例・期限つきの作業) and their occurrences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.dialect_insert import session_insert
from storage.models import Base, BigIntPK


class Duty(Base):
    """What a group must do, when (a recurrence rule), who, and how to remind."""

    __tablename__ = "duties"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    # Config duties are kept in step with the TOML by this key; chat-made ones have none.
    key: Mapped[str | None] = mapped_column(String(300), unique=True)
    group: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str] = mapped_column(String(300), default="leaders")
    reminders: Mapped[dict[str, Any]]  # {"offsets": ["3bd@09:00", ...]}
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class DutyOccurrence(Base):
    """One due moment of a duty: open until someone marks it done."""

    __tablename__ = "duty_occurrences"
    __table_args__ = (
        UniqueConstraint("duty_id", "due_at", name="uq_duty_occurrence"),
        Index("ix_duty_occurrences_open", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    duty_id: Mapped[int] = mapped_column(ForeignKey("duties.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(255))
    snoozed_until: Mapped[datetime | None]


async def add_missing_occurrences(
    session: AsyncSession, duty_id: int, moments: list[datetime]
) -> None:
    """Create occurrence rows unless another process already has (no unique violation)."""
    if not moments:
        return
    insert = session_insert(session)
    await session.execute(
        insert(DutyOccurrence)
        .values([{"duty_id": duty_id, "due_at": m, "status": "open"} for m in moments])
        .on_conflict_do_nothing(index_elements=["duty_id", "due_at"])
    )


async def add_config_duty(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert a duty declared in config unless its key exists (several processes start)."""
    insert = session_insert(session)
    await session.execute(
        insert(Duty).values(**values).on_conflict_do_nothing(index_elements=["key"])
    )
