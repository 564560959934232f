"""Queries on issues: numbering, similar-issue search, support and the audit trail."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect_insert import session_insert
from storage.issues import (
    OPEN_STATUSES,
    AuditRecord,
    Issue,
    IssueCounter,
    IssueGram,
    IssueSupport,
    Section,
)

REIWA_OFFSET = 2018  # 令和1年 = 2019


def fiscal_year(day: date) -> int:
    """The 年度 a day belongs to: April to March, named by the April's year."""
    return day.year if day.month >= 4 else day.year - 1


def issue_number(fy: int, seq: int) -> str:
    """``R8-0042``: 令和8年度 (April 2026 – March 2027), the 42nd issue of that year."""
    return f"R{fy - REIWA_OFFSET}-{seq:04d}"


async def next_seq(session: AsyncSession, fy: int) -> int:
    """Take the next number of fiscal year ``fy``; the counter row lock serializes takers."""
    insert = session_insert(session)
    statement = (
        insert(IssueCounter)
        .values(fiscal_year=fy, last=1)
        .on_conflict_do_update(index_elements=["fiscal_year"], set_={"last": IssueCounter.last + 1})
        .returning(IssueCounter.last)
    )
    return int((await session.execute(statement)).scalar_one())


def bigrams(text: str) -> set[str]:
    """Character bigrams of the text without spaces: how Japanese is searched without a
    dictionary (words are not separated by spaces)."""
    squeezed = "".join(unicodedata.normalize("NFKC", text).casefold().split())
    if len(squeezed) < 2:
        return {squeezed} if squeezed else set()
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


async def index_text(session: AsyncSession, issue_id: int, text: str) -> None:
    await session.execute(delete(IssueGram).where(IssueGram.issue_id == issue_id))
    grams = bigrams(text)
    if grams:
        session.add_all(IssueGram(issue_id=issue_id, gram=g) for g in grams)


async def _shared_grams(
    session: AsyncSession, grams: set[str], where: ColumnElement[bool], limit: int
) -> list[tuple[Issue, int, int]]:
    """(issue, grams shared with the query, the issue's gram count) for the best candidates."""
    shared = func.count(IssueGram.gram).label("shared")
    candidates = (
        select(IssueGram.issue_id, shared)
        .join(Issue, Issue.id == IssueGram.issue_id)
        .where(IssueGram.gram.in_(grams), where)
        .group_by(IssueGram.issue_id)
        .order_by(shared.desc(), IssueGram.issue_id.desc())
        .limit(limit)
        .subquery()
    )
    sizes = (
        select(IssueGram.issue_id, func.count().label("size"))
        .where(IssueGram.issue_id.in_(select(candidates.c.issue_id)))
        .group_by(IssueGram.issue_id)
        .subquery()
    )
    rows = await session.execute(
        select(Issue, candidates.c.shared, sizes.c.size)
        .join(candidates, candidates.c.issue_id == Issue.id)
        .join(sizes, sizes.c.issue_id == Issue.id)
    )
    return [(issue, int(n), int(size)) for issue, n, size in rows]


async def similar_open_issues(
    session: AsyncSession, text: str, *, limit: int = 3, min_score: float = 0.3
) -> list[tuple[Issue, float]]:
    """Open issues sharing the most bigrams with ``text``, scored by the Dice coefficient."""
    grams = bigrams(text)
    if not grams:
        return []
    found = await _shared_grams(session, grams, Issue.status.in_(OPEN_STATUSES), limit * 10)
    scored = [(issue, 2 * n / (len(grams) + size)) for issue, n, size in found]
    scored = [pair for pair in scored if pair[1] >= min_score]
    scored.sort(key=lambda pair: (-pair[1], -pair[0].id))
    return scored[:limit]


async def search_issues(
    session: AsyncSession,
    words: str,
    *,
    scope: ColumnElement[bool],
    limit: int = 10,
    min_coverage: float = 0.6,
) -> list[Issue]:
    """Issues (any status, within ``scope``) containing most of the words' bigrams."""
    grams = bigrams(words)
    if not grams:
        return []
    found = await _shared_grams(session, grams, scope, limit * 20)
    ranked = [(issue, n / len(grams)) for issue, n, _ in found if n / len(grams) >= min_coverage]
    ranked.sort(key=lambda pair: (-pair[1], -pair[0].id))
    return [issue for issue, _ in ranked[:limit]]


async def add_support(
    session: AsyncSession, issue: Issue, adapter: str, user_id: str, now: datetime
) -> bool:
    """Record 「同じ課題です」 once per person; True if it was new."""
    known = await session.scalar(
        select(IssueSupport.id).where(
            IssueSupport.issue_id == issue.id,
            IssueSupport.adapter == adapter,
            IssueSupport.user_id == user_id,
        )
    )
    if known is not None:
        return False
    session.add(IssueSupport(issue_id=issue.id, adapter=adapter, user_id=user_id, created_at=now))
    issue.support_count += 1
    issue.updated_at = now
    return True


def audit(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    subject_type: str,
    subject_id: int | None,
    actor: tuple[str, str] | None = None,
    detail: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    session.add(
        AuditRecord(
            at=at,
            actor_adapter=actor[0] if actor else None,
            actor_id=actor[1] if actor else None,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=detail or {},
            note=note,
        )
    )


async def section_names(session: AsyncSession, defaults: Iterable[str]) -> list[str]:
    """Known sections: the directory's, or the configured defaults on a fresh install."""
    names = list(await session.scalars(select(Section.name).where(Section.active.is_(True))))
    return names or list(defaults)


async def issues_of_reporter(
    session: AsyncSession, adapter: str, user_id: str, *, limit: int = 20
) -> Sequence[Issue]:
    rows = await session.scalars(
        select(Issue)
        .where(Issue.reporter_adapter == adapter, Issue.reporter_id == user_id)
        .order_by(Issue.id.desc())
        .limit(limit)
    )
    return list(rows)
