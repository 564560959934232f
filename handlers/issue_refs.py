"""Reading issue numbers as staff type them: R8-0042, r8-42, #42, ＃４２, 42."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.context import Context
from bot.text import normalize
from storage import issue_queries as queries
from storage.issues import Issue

_REF = re.compile(r"^(?:R(\d{1,2})-?)?#?0*(\d{1,6})$", re.IGNORECASE)


def parse_ref(text: str) -> tuple[int | None, int] | None:
    """(令和 year or None, sequence number), or None when it is not an issue number."""
    found = _REF.match(normalize(text).replace(" ", ""))
    if not found:
        return None
    era_year = int(found.group(1)) if found.group(1) else None
    return era_year, int(found.group(2))


async def find_issue(ctx: Context, text: str) -> Issue | None:
    """A bare number means this fiscal year's issue, else the newest with that number."""
    ref = parse_ref(text)
    if ref is None:
        return None
    era_year, seq = ref
    query = select(Issue).where(Issue.seq == seq)
    if era_year is not None:
        query = query.where(Issue.fiscal_year == era_year + queries.REIWA_OFFSET)
    else:
        today = ctx.today()
        current = queries.fiscal_year(today)
        query = query.where(Issue.fiscal_year <= current)
    rows = await ctx.session.scalars(query.order_by(Issue.fiscal_year.desc()).limit(1))
    return rows.first()
