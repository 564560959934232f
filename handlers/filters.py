"""``status:受付 課:市民課 group:窓口部会`` → filters for listing and exporting issues.

Filter names and statuses come from the catalogue in every language, because people type
whichever they remember (``status:received`` and ``状況:受付`` mean the same); several
values of one filter mean "any of".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, true

from bot.context import Context
from bot.text import fold, normalize
from handlers.lifecycle import parse_status
from storage.issues import Issue

NAMES = ("status", "section", "group", "page")
_PAIR = re.compile(r"([^\s:]+)\s*:\s*([^\s:]*)")


class FilterError(ValueError):
    """A filter the person typed cannot be used; ``key`` and values explain why."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class IssueFilters:
    statuses: frozenset[str] = field(default_factory=frozenset)
    sections: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    page: int = 1

    def condition(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.statuses:
            parts.append(Issue.status.in_(self.statuses))
        if self.sections:
            parts.append(Issue.section.in_(self.sections))
        if self.groups:
            parts.append(Issue.working_group.in_(self.groups))
        return and_(true(), *parts)

    @property
    def in_use(self) -> dict[str, list[str]]:
        """The filters given, for the audit trail."""
        chosen = {"status": self.statuses, "section": self.sections, "group": self.groups}
        return {name: sorted(values) for name, values in chosen.items() if values}


def parse_filters(ctx: Context, text: str) -> tuple[IssueFilters, list[str]]:
    """The filters, and the other words (a page number, a format …) for the caller."""
    normalized = normalize(text)
    chosen: dict[str, set[str]] = {name: set() for name in NAMES}
    for typed, value in _PAIR.findall(normalized):
        name = _name(ctx, typed)
        if name is None or not value:
            raise FilterError("filters.unknown", token=f"{typed}:{value}")
        if name == "status":
            status = parse_status(ctx, value)
            if status is None:
                raise FilterError("filters.bad_status", value=value)
            value = status
        elif name == "page" and not value.isdigit():
            raise FilterError("filters.unknown", token=f"{typed}:{value}")
        chosen[name].add(value)
    words = _PAIR.sub(" ", normalized).split()
    pages = [int(p) for p in chosen["page"]]
    filters = IssueFilters(
        statuses=frozenset(chosen["status"]),
        sections=frozenset(chosen["section"]),
        groups=frozenset(chosen["group"]),
        page=max(1, min(pages)) if pages else 1,
    )
    return filters, words


def _name(ctx: Context, typed: str) -> str | None:
    for name in NAMES:
        if fold(typed) in {
            fold(w) for w in [name, *ctx.app.catalog.words(f"filters.words.{name}")]
        }:
            return name
    return None
