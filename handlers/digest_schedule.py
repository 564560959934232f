"""When digests are due and which stretch of time each one covers.

A weekly digest goes out on the week's first business day (or a chosen weekday, moved to the next
business day of that week when the office is closed), a monthly one on the month's N-th business
day. Each covers the time since the previous one was due, so the digests tile time with no gap
and no overlap whether or not they were posted on the dot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.calendar import MunicipalCalendar
from config.settings import DigestSettings, WorkingGroupSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
_WEEK = timedelta(days=7)
_LOOK_BACK_WEEKS = 4  # a whole week closed (年末年始 + a holiday) still finds the one before


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): what a digest reports on."""

    start: datetime
    end: datetime


def _clock(text: str) -> tuple[int, int]:
    hour, _, minute = text.partition(":")
    return int(hour), int(minute or 0)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def week_key(monday: date) -> str:
    """``2026-W49``: the ISO week, which run keys name (the ISO year at the turn of a year)."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_day_and_time(group: WorkingGroupSettings, digest: DigestSettings) -> tuple[str, str]:
    return group.digest_day or digest.weekly_day, group.digest_time or digest.weekly_time


def weekly_moment(
    calendar: MunicipalCalendar, monday: date, day: str, time: str
) -> datetime | None:
    """When the week starting ``monday`` has its digest; None if the office is closed from
    the chosen day to the week's end."""
    first = 0 if day == "first" else WEEKDAYS.index(day)
    for offset in range(first, 7):
        candidate = monday + timedelta(days=offset)
        if calendar.is_business_day(candidate):
            return calendar.at(candidate, *_clock(time))
    return None


def previous_weekly(
    calendar: MunicipalCalendar, moment: datetime, day: str, time: str, *, strict: bool
) -> datetime:
    """The last weekly moment before ``moment`` (or at it, unless ``strict``)."""
    monday = week_start(calendar.today(moment))
    for back in range(_LOOK_BACK_WEEKS + 1):
        found = weekly_moment(calendar, monday - back * _WEEK, day, time)
        if found is not None and (found < moment or (found == moment and not strict)):
            return found
    return moment - _WEEK


def monthly_moment(calendar: MunicipalCalendar, first: date, nth: int, time: str) -> datetime:
    """The ``nth`` business day of the month starting on ``first``, at ``time``."""
    day = calendar.add_business_days(calendar.next_business_day(first), nth - 1)
    return calendar.at(day, *_clock(time))


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month(first: date) -> date:
    return month_start(first - timedelta(days=1))


def month_period(calendar: MunicipalCalendar, first: date, end: datetime | None = None) -> Period:
    """The calendar month from ``first`` (local midnight to midnight), or up to ``end``."""
    following = month_start(first + timedelta(days=31))
    return Period(calendar.at(first, 0), end or calendar.at(following, 0))
