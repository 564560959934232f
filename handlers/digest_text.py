"""How a digest reads in a chat window: short lines, numbers with their units, dates as people
say them, and lists cut at ``digest.list_limit`` with "ほか N件"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.app import App
from handlers.duty_model import calendar_of, when_text
from handlers.reports import format_hours
from storage.digest_queries import Listed

LAST_INSTANT = timedelta(microseconds=1)  # end - this: the last moment inside a period


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest's text; ``empty`` when the period brought nothing new."""

    text: str
    empty: bool = False
    pipeline: dict[str, int] = field(default_factory=dict)  # status → count, for the chart


class Writer:
    """Catalogue text in one locale, with the digest's number and date formats."""

    def __init__(self, app: App, locale: str) -> None:
        self.app = app
        self.locale = locale
        self.calendar = calendar_of(app)

    def t(self, key: str, /, **values: Any) -> str:
        return self.app.catalog.t(self.locale, key, **values)

    def status(self, key: str) -> str:
        return self.t(f"status.{key}")

    def date(self, moment: datetime) -> str:
        """``12月7日(月)`` in the municipality's zone."""
        day = self.calendar.today(moment)
        catalog = self.app.catalog
        weekdays = catalog.words("digests.weekdays", [catalog.resolve(self.locale)])
        return self.t("digests.date", month=day.month, day=day.day, weekday=weekdays[day.weekday()])

    def last_day(self, end: datetime) -> str:
        """The last day inside a period ending (exclusively) at ``end``."""
        return self.date(end - LAST_INSTANT)

    def when(self, moment: datetime) -> str:
        """A due moment with its time, as duty reminders show it."""
        return when_text(self.app, self.locale, moment)

    def join(self, items: list[str], key: str = "digests.separator") -> str:
        return self.t(key).join(items)

    def more(self, listed: Listed, key: str = "digests.more") -> list[str]:
        """ "ほか N件" when the list was cut."""
        rest = listed.total - len(listed.rows)
        return [self.t(key, count=count(rest))] if rest > 0 else []


def count(n: int) -> str:
    """12345 → "12,345": counts over a shared deployment get large."""
    return f"{n:,}"


def hours(value: float) -> str:
    """Hours as people say them (375, 12.5), grouped by thousands."""
    text = format_hours(round(value, 1))
    whole, dot, fraction = text.partition(".")
    return f"{int(whole):,}{dot}{fraction}"


def days(value: float) -> str:
    """Days with at most one decimal: 10, 117.5."""
    return format_hours(round(value, 1))
