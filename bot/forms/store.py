"""Loading and saving form sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.forms import FormSession

ACTIVE, SUBMITTED, CANCELLED, EXPIRED = "active", "submitted", "cancelled", "expired"

_ACTIVE = (  # built once: it runs on every event
    select(FormSession)
    .where(
        FormSession.adapter == bindparam("adapter"),
        FormSession.user_id == bindparam("user"),
        FormSession.status == ACTIVE,
    )
    .order_by(FormSession.id.desc())
    .limit(1)
)


async def active_session(session: AsyncSession, adapter: str, user_id: str) -> FormSession | None:
    """The form this person is filling in now, if any (at most one at a time)."""
    rows = await session.scalars(_ACTIVE, {"adapter": adapter, "user": user_id})
    return rows.first()


async def drafts(session: AsyncSession, adapter: str, user_id: str) -> list[FormSession]:
    """Expired drafts, newest first: kept so nothing typed is lost."""
    rows = await session.scalars(
        select(FormSession)
        .where(
            FormSession.adapter == adapter,
            FormSession.user_id == user_id,
            FormSession.status == EXPIRED,
        )
        .order_by(FormSession.updated_at.desc(), FormSession.id.desc())
        .limit(20)
    )
    return list(rows)


async def idle_sessions(
    session: AsyncSession, *, idle_since: datetime, only_unnudged: bool, limit: int = 200
) -> list[FormSession]:
    """Active sessions untouched since ``idle_since``; rows other processes hold are skipped."""
    query = select(FormSession).where(
        FormSession.status == ACTIVE, FormSession.updated_at < idle_since
    )
    if only_unnudged:
        query = query.where(FormSession.nudged_at.is_(None))
    query = query.order_by(FormSession.id).limit(limit).with_for_update(skip_locked=True)
    return list(await session.scalars(query))
