"""``status:受付 課:市民課 group:窓口部会 2`` → filters for listing and exporting issues."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, true

from bot.context import Context
from bot.text import fold, normalize
from handlers.lifecycle import parse_status
from storage.issues import Issue


class FilterError(ValueError):
    """A filter the person typed cannot be used; ``key`` and values explain why."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class IssueFilters:
    status: str | None = None
    section: str | None = None
    group: str | None = None
    page: int = 1

    def condition(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.status:
            parts.append(Issue.status == self.status)
        if self.section:
            parts.append(Issue.section == self.section)
        if self.group:
            parts.append(Issue.working_group == self.group)
        return and_(true(), *parts)


def parse_filters(ctx: Context, text: str) -> IssueFilters:
    """Read the filter words; raise FilterError with a catalogue key when one is wrong."""
    found: dict[str, str] = {}
    page = 1
    for token in normalize(text.replace("：", ":")).split():
        name, colon, value = token.partition(":")
        if not colon:
            if token.isdigit():
                page = max(1, int(token))
                continue
            raise FilterError("filters.unknown", token=token)
        kind = _kind(ctx, name)
        if kind is None or not value:
            raise FilterError("filters.unknown", token=token)
        if kind == "page":
            if not value.isdigit():
                raise FilterError("filters.unknown", token=token)
            page = max(1, int(value))
        else:
            found[kind] = value
    status = None
    if "status" in found:
        status = parse_status(ctx, found["status"])
        if status is None:
            raise FilterError("filters.bad_status", value=found["status"])
    return IssueFilters(status, found.get("section"), found.get("group"), page)


def _kind(ctx: Context, name: str) -> str | None:
    for kind in ("status", "section", "group", "page"):
        if fold(name) in {fold(w) for w in ctx.app.catalog.words(f"filters.words.{kind}")}:
            return kind
    return None
