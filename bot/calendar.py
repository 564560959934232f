"""When the town office is open, in the municipality's own time zone.

Duty reminders and digests must never land on a day the office is closed: weekends, national
holidays (振替休日 and 国民の休日 included), 年末年始 (29 Dec – 3 Jan) and the town's own
closure days. National holidays come from the ``holidays`` package, computed offline and kept as
a table in ``bot.jp_holidays`` (1949–2099; outside those years no day is a national holiday).
Every conversion goes through the municipality's zone explicitly, so the result never depends
on the process time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from bot import jp_holidays

__all__ = ["AdjustPolicy", "ClosureReason", "MunicipalCalendar", "national_holidays"]

ClosureReason = Literal["weekend", "holiday", "year_end", "closure"]
AdjustPolicy = Literal["previous", "next"]

_ONE_DAY = dt.timedelta(days=1)
_FISCAL_YEAR_FIRST_MONTH = 4  # 年度 starts on 1 April


@cache
def national_holidays(year: int) -> frozenset[dt.date]:
    """Japan's national holidays in ``year``; read once per year, then cached."""
    return jp_holidays.in_year(year)


def _is_year_end(day: dt.date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def _plain_date(day: dt.date) -> dt.date:
    # A datetime is a date to the type system, but comparing it with the holiday table (or
    # taking its weekday in the wrong zone) is silently wrong: refuse it loudly instead.
    if isinstance(day, dt.datetime):
        raise TypeError("pass a date; for a datetime use MunicipalCalendar.today(now) first")
    return day


class MunicipalCalendar:
    """Business days, local time and 年度 for one municipality."""

    def __init__(
        self,
        timezone: str = "Asia/Tokyo",
        extra_closures: Iterable[dt.date] = (),
        year_end: bool = True,
    ) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.extra_closures = frozenset(_plain_date(day) for day in extra_closures)
        self.year_end = year_end

    def __repr__(self) -> str:
        return (
            f"MunicipalCalendar(timezone={self.timezone!r}, "
            f"extra_closures={len(self.extra_closures)} days, year_end={self.year_end})"
        )

    # ------------------------------------------------------------------------- open or closed

    def closure_reason(self, d: dt.date) -> ClosureReason | None:
        """Why the office is closed on ``d`` (a key, not display text), or None if it is open.

        When several apply, the one staff would name wins: 年末年始 over a holiday inside it
        (元日), a holiday over the weekend it falls on, and the town's own closure last.
        """
        day = _plain_date(d)
        if self.year_end and _is_year_end(day):
            return "year_end"
        if day in national_holidays(day.year):
            return "holiday"
        if day.weekday() >= 5:
            return "weekend"
        if day in self.extra_closures:
            return "closure"
        return None

    def is_business_day(self, d: dt.date) -> bool:
        """Whether the office is open on ``d``."""
        return self.closure_reason(d) is None

    # ---------------------------------------------------------------------- moving by days

    def next_business_day(self, d: dt.date, *, include: bool = True) -> dt.date:
        """The first business day on or after ``d`` (strictly after it with ``include=False``)."""
        day = _plain_date(d) if include else _plain_date(d) + _ONE_DAY
        while not self.is_business_day(day):
            day += _ONE_DAY
        return day

    def previous_business_day(self, d: dt.date, *, include: bool = True) -> dt.date:
        """The last business day on or before ``d`` (strictly before it with ``include=False``)."""
        day = _plain_date(d) if include else _plain_date(d) - _ONE_DAY
        while not self.is_business_day(day):
            day -= _ONE_DAY
        return day

    def adjust(self, d: dt.date, policy: AdjustPolicy) -> dt.date:
        """``d`` if the office is open then, else the previous or next business day."""
        if policy == "previous":
            return self.previous_business_day(d)
        if policy == "next":
            return self.next_business_day(d)
        raise ValueError(f"unknown policy {policy!r} (previous or next)")

    def add_business_days(self, d: dt.date, n: int) -> dt.date:
        """The ``n``-th business day after ``d`` (before it if ``n`` < 0); ``d`` is not counted.

        The result is always a business day, so ``n == 0`` gives ``d`` when the office is open
        and otherwise the next business day (as ``next_business_day(d)``). From a business day,
        ``add_business_days(add_business_days(d, n), -n) == d``.
        """
        if n == 0:
            return self.next_business_day(d)
        day = _plain_date(d)
        for _ in range(abs(n)):
            day = (
                self.next_business_day(day, include=False)
                if n > 0
                else self.previous_business_day(day, include=False)
            )
        return day

    def business_days_between(self, a: dt.date, b: dt.date) -> int:
        """Business days in ``[a, b)``, like ``range``; negative (counting ``[b, a)``) if b < a.

        So for a business day ``d``: ``business_days_between(d, add_business_days(d, n)) == n``.
        """
        start, end = _plain_date(a), _plain_date(b)
        if end < start:
            return -self.business_days_between(end, start)
        count, day = 0, start
        while day < end:
            count += self.is_business_day(day)
            day += _ONE_DAY
        return count

    # --------------------------------------------------------------------------- local time

    def local_now(self, now: dt.datetime) -> dt.datetime:
        """``now`` in the municipality's zone; a naive datetime is refused (its zone is a guess)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("local_now needs an aware datetime (e.g. Clock.now())")
        return now.astimezone(self.zone)

    def today(self, now: dt.datetime) -> dt.date:
        """The municipality's calendar date at the instant ``now``."""
        return self.local_now(now).date()

    def at(self, d: dt.date, hh: int, mm: int = 0) -> dt.datetime:
        """``d`` at ``hh:mm`` wall-clock time in the municipality's zone (aware)."""
        day = _plain_date(d)
        return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=self.zone)

    # ----------------------------------------------------------------------------- 年度

    @staticmethod
    def fiscal_year(d: dt.date) -> int:
        """The 年度 ``d`` belongs to: 2026-04-01 … 2027-03-31 is 2026 (令和8年度)."""
        day = _plain_date(d)
        return day.year if day.month >= _FISCAL_YEAR_FIRST_MONTH else day.year - 1

    @staticmethod
    def fiscal_year_range(fiscal_year: int) -> tuple[dt.date, dt.date]:
        """The first day of 年度 ``fiscal_year`` and the first day of the next (exclusive end)."""
        return (
            dt.date(fiscal_year, _FISCAL_YEAR_FIRST_MONTH, 1),
            dt.date(fiscal_year + 1, _FISCAL_YEAR_FIRST_MONTH, 1),
        )
