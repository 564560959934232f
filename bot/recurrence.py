"""When a duty recurs, read from config or chat text, and when to remind about it.

Two ways to write a rule, both NFKC-folded first (full-width digits and spaces work):

=================================================  ==============================
``daily at=09:00``                                 毎日 9:00 / 毎営業日 9:00
``weekly weekday=mon at=09:00``                    毎週月曜 9:00
``monthly nth=2 weekday=wed at=14:00``             毎月第2水曜 14:00
``monthly nth=last weekday=fri``                   毎月最終金曜
``monthly day=25 at=17:00``                        毎月25日 17:00
``monthly day=last at=17:00``                      毎月末日 17:00
``quarterly months=6,9,12,3 day=25``               四半期 6・9・12・3月25日
``once date=2026-12-25 at=17:00``                  2026-12-25 17:00 / 令和8年12月25日 17時
=================================================  ==============================

Times are wall-clock times in the municipality's zone (``9:00``, ``14時``, ``14時半``, ``午後2時``);
without one a rule is at 09:00, when the office opens. Every monthly or quarterly rule happens
exactly once in each of its months: ``day=31`` falls on the 30th in a 30-day month, and ``nth``
is 1–4 or ``last`` because a 5th Wednesday is missing in most months. A ``quarterly`` rule
names four months three apart.

An occurrence is never moved by a closed day (a meeting is where it is), except that ``daily``
happens on business days only. Reminders are what move: see ``reminder_times``.

A refused rule raises ``RuleError``, whose reason is a catalogue key under
``recurrence.invalid`` (config/locales/ja.recurrence.toml).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

from bot.calendar import AdjustPolicy, MunicipalCalendar
from bot.forms.answers import KANJI_NUMERAL_CHARS, InvalidAnswer, kanji_numeral
from bot.forms.dates import parse_date
from bot.i18n import Catalog
from bot.text import normalize

__all__ = [
    "DEFAULT_TIME",
    "KINDS",
    "LAST",
    "WEEKDAYS",
    "Kind",
    "Offset",
    "Rule",
    "RuleError",
    "describe",
    "parse_offset",
    "parse_rule",
    "reminder_times",
]

Kind = Literal["once", "daily", "weekly", "monthly", "quarterly"]
KINDS: Final[tuple[Kind, ...]] = ("once", "daily", "weekly", "monthly", "quarterly")
LAST: Final = -1  # nth=last / day=last
DEFAULT_TIME: Final = dt.time(9, 0)
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order

_ONE_DAY = dt.timedelta(days=1)
_MAX_NTH = 4
_MAX_OFFSET = 999


class RuleError(ValueError):
    """Why a rule or offset was refused: a key under recurrence.invalid.* and its values."""

    def __init__(self, reason: str, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values

    @property
    def key(self) -> str:
        """The catalogue key of the message to show, e.g. ``recurrence.invalid.bad_time``."""
        return f"recurrence.invalid.{self.reason}"


# ======================================================================================= Rule


@dataclass(frozen=True, slots=True)
class Rule:
    """One recurrence; the fields are what ``describe`` and storage need, nothing rendered.

    ``weekday`` is 0 for Monday (``date.weekday()``); ``nth`` and ``day`` may be ``LAST``;
    ``months`` (quarterly only) is kept sorted; ``date`` is for ``once`` only.
    """

    kind: Kind
    at: dt.time = DEFAULT_TIME
    weekday: int | None = None
    nth: int | None = None
    day: int | None = None
    months: tuple[int, ...] = ()
    date: dt.date | None = None

    def __post_init__(self) -> None:
        _check_rule(self)
        object.__setattr__(self, "months", tuple(sorted(self.months)))

    # ----------------------------------------------------------------------- occurrences

    def occurrences(
        self, start: dt.datetime, end: dt.datetime, calendar: MunicipalCalendar
    ) -> Iterator[dt.datetime]:
        """Occurrences in ``[start, end)``, in order, aware in the municipality's zone."""
        lo, hi = calendar.local_now(start), calendar.local_now(end)
        return self._between(lo, hi, calendar)

    def _between(
        self, lo: dt.datetime, hi: dt.datetime, calendar: MunicipalCalendar
    ) -> Iterator[dt.datetime]:
        for day in self._days(lo.date(), calendar):
            moment = self._moment(day, calendar)
            if moment >= hi:
                return
            if moment >= lo:
                yield moment

    def next_after(self, moment: dt.datetime, calendar: MunicipalCalendar) -> dt.datetime | None:
        """The first occurrence strictly after ``moment``; None when there is none (a past once)."""
        local = calendar.local_now(moment)
        for day in self._days(local.date(), calendar):
            found = self._moment(day, calendar)
            if found > local:
                return found
        return None

    def _moment(self, day: dt.date, calendar: MunicipalCalendar) -> dt.datetime:
        return dt.datetime.combine(day, self.at, tzinfo=calendar.zone)

    def _days(self, first: dt.date, calendar: MunicipalCalendar) -> Iterator[dt.date]:
        """The days this rule happens on, from ``first`` on, until the calendar runs out."""
        try:
            if self.kind == "once":
                assert self.date is not None
                if self.date >= first:
                    yield self.date
            elif self.kind == "daily":
                day = first
                while True:
                    if calendar.is_business_day(day):
                        yield day
                    day += _ONE_DAY
            elif self.kind == "weekly":
                assert self.weekday is not None
                day = first + dt.timedelta(days=(self.weekday - first.weekday()) % 7)
                while True:
                    yield day
                    day += dt.timedelta(days=7)
            else:
                yield from self._monthly_days(first)
        except OverflowError:
            return  # past 9999-12-31

    def _monthly_days(self, first: dt.date) -> Iterator[dt.date]:
        months = set(self.months) if self.kind == "quarterly" else set(range(1, 13))
        year, month = first.year, first.month
        while year <= dt.MAXYEAR:
            if month in months:
                day = self._day_in(year, month)
                if day >= first:
                    yield day
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def _day_in(self, year: int, month: int) -> dt.date:
        length = _month_length(year, month)
        if self.day is not None:
            return dt.date(year, month, length if self.day == LAST else min(self.day, length))
        assert self.nth is not None and self.weekday is not None
        if self.nth == LAST:
            last = dt.date(year, month, length)
            return last - dt.timedelta(days=(last.weekday() - self.weekday) % 7)
        first_match = 1 + (self.weekday - dt.date(year, month, 1).weekday()) % 7
        return dt.date(year, month, first_match + 7 * (self.nth - 1))

    # --------------------------------------------------------------------------- as text

    def to_text(self) -> str:
        """The canonical ``key=value`` form; ``parse_rule(rule.to_text()) == rule``."""
        parts: list[str] = [self.kind]
        if self.date is not None:
            parts.append(f"date={self.date.isoformat()}")
        if self.months:
            parts.append("months=" + ",".join(str(month) for month in self.months))
        if self.nth is not None:
            parts.append(f"nth={'last' if self.nth == LAST else self.nth}")
        if self.weekday is not None:
            parts.append(f"weekday={WEEKDAYS[self.weekday]}")
        if self.day is not None:
            parts.append(f"day={'last' if self.day == LAST else self.day}")
        parts.append(f"at={self.at.hour:02d}:{self.at.minute:02d}")
        return " ".join(parts)


def _month_length(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (dt.date(year, month + 1, 1) - dt.date(year, month, 1)).days


_FIELDS_BY_KIND: Final[dict[Kind, frozenset[str]]] = {
    "once": frozenset({"date"}),
    "daily": frozenset(),
    "weekly": frozenset({"weekday"}),
    "monthly": frozenset({"nth", "weekday", "day"}),
    "quarterly": frozenset({"months", "nth", "weekday", "day"}),
}


def _check_rule(rule: Rule) -> None:
    """Refuse a rule that could not happen as written, whether parsed or built in code."""
    if rule.kind not in _FIELDS_BY_KIND:
        raise RuleError("unknown_kind", kind=rule.kind)
    if rule.at.tzinfo is not None or rule.at.second or rule.at.microsecond:
        raise RuleError("bad_time", value=rule.at.isoformat())
    given = {
        name
        for name in ("weekday", "nth", "day", "months", "date")
        if getattr(rule, name) not in (None, ())
    }
    extra = sorted(given - _FIELDS_BY_KIND[rule.kind])
    if extra:
        raise RuleError("not_allowed", key=extra[0], kind=rule.kind)
    if rule.kind == "once" and rule.date is None:
        raise RuleError("missing", key="date")
    if isinstance(rule.date, dt.datetime):
        raise RuleError("bad_date", value=rule.date.isoformat())
    if rule.weekday is not None and not 0 <= rule.weekday <= 6:
        raise RuleError("bad_weekday", value=rule.weekday)
    if rule.kind == "weekly" and rule.weekday is None:
        raise RuleError("missing", key="weekday")
    if rule.kind in ("monthly", "quarterly"):
        _check_day_selector(rule)
    if rule.kind == "quarterly":
        _check_quarter_months(rule.months)


def _check_day_selector(rule: Rule) -> None:
    if rule.day is not None and (rule.nth is not None or rule.weekday is not None):
        raise RuleError("day_and_nth")
    if rule.day is not None:
        if rule.day != LAST and not 1 <= rule.day <= 31:
            raise RuleError("bad_day", value=rule.day)
        return
    if rule.nth is None and rule.weekday is None:
        raise RuleError("missing", key="day")
    if rule.nth is None:
        raise RuleError("missing", key="nth")
    if rule.weekday is None:
        raise RuleError("missing", key="weekday")
    if rule.nth != LAST and not 1 <= rule.nth <= _MAX_NTH:
        raise RuleError("bad_nth", value=rule.nth)


def _check_quarter_months(months: tuple[int, ...]) -> None:
    if not months:
        raise RuleError("missing", key="months")
    for month in months:
        if not 1 <= month <= 12:
            raise RuleError("bad_month", value=month)
    if len(set(months)) != 4 or len({month % 3 for month in months}) != 1:
        raise RuleError("quarterly_months", months=",".join(str(month) for month in months))


# ============================================================================== parsing


def parse_rule(text: str) -> Rule:
    """The rule written in ``text``, in the ``key=value`` or the Japanese form."""
    folded = _digits_for_kanji(normalize(text))
    if not folded:
        raise RuleError("empty")
    head = folded.split(" ", 1)[0].casefold()
    if head in KINDS or "=" in folded:
        return _parse_pairs(folded)
    return _parse_japanese(folded)


# ------------------------------------------------------------------------------ shared bits

_KANJI_NUMERAL = re.compile(
    rf"(?<=第)[{KANJI_NUMERAL_CHARS}]+|[{KANJI_NUMERAL_CHARS}]+(?=[年月日時分])"
)

_TIME = (
    r"(?P<ampm>午前|午後|am|pm)?(?P<hour>[0-9]{1,2})"
    r"(?::(?P<minute>[0-9]{2})|時(?:(?P<minute_ja>[0-9]{1,2})分|(?P<half>半))?)"
)
_TIME_ONLY = re.compile(_TIME, re.IGNORECASE)
_TIME_AT_END = re.compile(rf"(?P<body>.*?)[ ]?(?:の|に)?[ ]?{_TIME}", re.IGNORECASE)

_WEEKDAY_WORDS: Final[dict[str, int]] = {
    **{name: index for index, name in enumerate(WEEKDAYS)},
    **{name: index for index, name in enumerate("月火水木金土日")},
    **{f"{name}曜": index for index, name in enumerate("月火水木金土日")},
    **{f"{name}曜日": index for index, name in enumerate("月火水木金土日")},
    **{
        name: index
        for index, names in enumerate(
            [
                ("monday",),
                ("tues", "tuesday"),
                ("wednesday",),
                ("thur", "thurs", "thursday"),
                ("friday",),
                ("saturday",),
                ("sunday",),
            ]
        )
        for name in names
    },
}
_LAST_WORDS = frozenset({"last", "末", "末日", "月末", "最終", "最終日"})
_LIST_SEPARATORS = re.compile(r"[,、・/]")


def _digits_for_kanji(text: str) -> str:
    """第二水曜 → 第2水曜, 二十五日 → 25日: rules copied from documents use kanji numerals."""

    def replace(match: re.Match[str]) -> str:
        value = kanji_numeral(match.group())
        return match.group() if value is None else str(value)

    return _KANJI_NUMERAL.sub(replace, text)


def _time_from(match: re.Match[str], typed: str) -> dt.time:
    hour = int(match["hour"])
    minute = 30 if match["half"] else int(match["minute"] or match["minute_ja"] or 0)
    ampm = (match["ampm"] or "").casefold()
    if ampm:
        if hour > 11:
            raise RuleError("bad_time", value=typed)
        hour += 12 if ampm in ("午後", "pm") else 0
    if hour > 23 or minute > 59:
        raise RuleError("bad_time", value=typed)
    return dt.time(hour, minute)


def _parse_time(value: str) -> dt.time:
    match = _TIME_ONLY.fullmatch(value)
    if match is None:
        raise RuleError("bad_time", value=value)
    return _time_from(match, value)


def _parse_weekday(value: str) -> int:
    weekday = _WEEKDAY_WORDS.get(value.casefold())
    if weekday is None:
        raise RuleError("bad_weekday", value=value)
    return weekday


def _parse_int(value: str, reason: str, *, last: bool) -> int:
    if last and value.casefold() in _LAST_WORDS:
        return LAST
    if not value.isascii() or not value.isdigit():
        raise RuleError(reason, value=value)
    return int(value)


def _parse_months(value: str) -> tuple[int, ...]:
    parts = [part for part in _LIST_SEPARATORS.split(value.replace("月", "")) if part]
    if not parts:
        raise RuleError("bad_month", value=value)
    return tuple(_parse_int(part, "bad_month", last=False) for part in parts)


# One-off dates are read by the forms' date reader; a year-less date or 明日 lands in year 1
# with this stand-in "today", which is how a rule without a year is told apart.
_NO_YEAR = dt.date(1, 1, 1)


def _parse_date(value: str) -> dt.date:
    try:
        day = parse_date(value, today=_NO_YEAR)
    except InvalidAnswer as refused:
        if refused.reason == "no_such_date" and refused.values.get("year") != _NO_YEAR.year:
            raise RuleError("no_such_date", **refused.values) from None
        if refused.reason == "era_out_of_range":
            raise RuleError("era_out_of_range", **refused.values) from None
        if refused.reason == "no_such_date":
            raise RuleError("year_needed", value=value) from None
        raise RuleError("bad_date", value=value) from None
    if day.year == _NO_YEAR.year:
        raise RuleError("year_needed", value=value)
    return day


# ----------------------------------------------------------------------- key=value form

_PAIR_READERS: Final[dict[str, Callable[[str], object]]] = {
    "at": _parse_time,
    "weekday": _parse_weekday,
    "nth": lambda value: _parse_int(value, "bad_nth", last=True),
    "day": lambda value: _parse_int(value, "bad_day", last=True),
    "months": _parse_months,
    "date": _parse_date,
}


def _parse_pairs(folded: str) -> Rule:
    kind_word, *tokens = folded.split(" ")
    kind = next((kind for kind in KINDS if kind == kind_word.casefold()), None)
    if kind is None:
        raise RuleError("unknown_kind", kind=kind_word)
    fields: dict[str, object] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.casefold()
        if not sep or not key or not value:
            raise RuleError("not_a_pair", token=token)
        if key not in _PAIR_READERS:
            raise RuleError("unknown_key", key=key)
        if key in fields:
            raise RuleError("duplicate_key", key=key)
        if key != "at" and key not in _FIELDS_BY_KIND[kind]:
            raise RuleError("not_allowed", key=key, kind=kind)
        fields[key] = _PAIR_READERS[key](value)
    return Rule(kind, **fields)  # type: ignore[arg-type]  # each reader returns its field's type


# ------------------------------------------------------------------------- Japanese form

_WD = r"(?P<{name}>[月火水木金土日])"
_DAY_SELECTOR = (
    rf"(?:第(?P<nth>[0-9]+){_WD.format(name='nth_wd')}(?:曜日?)?"
    rf"|最終{_WD.format(name='last_wd')}曜日?"
    r"|(?P<day>[0-9]{1,2})日"
    r"|(?P<last_day>末日?|月末日?|最終日))"
)
_JAPANESE_FORMS: Final[tuple[tuple[Kind, re.Pattern[str]], ...]] = (
    ("daily", re.compile(r"毎日|毎営業日|平日(?:毎日)?")),
    ("weekly", re.compile(rf"毎週{_WD.format(name='weekday')}(?:曜日?)?")),
    ("monthly", re.compile(rf"毎月の?{_DAY_SELECTOR}")),
    (
        "quarterly",
        re.compile(
            r"(?:四半期(?:ごと|毎)?|毎年)の?\(?(?P<months>[0-9]{1,2}(?:月?[,、・/][0-9]{1,2})*)月\)?"
            rf"の?{_DAY_SELECTOR}"
        ),
    ),
)


def _parse_japanese(folded: str) -> Rule:
    at, body = DEFAULT_TIME, folded
    timed = _TIME_AT_END.fullmatch(folded)
    if timed is not None and timed["body"]:
        at, body = _time_from(timed, folded[len(timed["body"]) :].strip()), timed["body"]
    compact = body.replace(" ", "")
    for kind, form in _JAPANESE_FORMS:
        match = form.fullmatch(compact)
        if match is not None:
            return _rule_from_match(kind, match, at)
    if compact.startswith(("毎", "四半期")):
        raise RuleError("unrecognised", text=folded)
    try:
        return Rule("once", at=at, date=_parse_date(body))
    except RuleError as refused:
        if refused.reason == "bad_date":
            raise RuleError("unrecognised", text=folded) from None
        raise


def _rule_from_match(kind: Kind, match: re.Match[str], at: dt.time) -> Rule:
    groups = match.groupdict()
    weekday = groups.get("weekday") or groups.get("nth_wd") or groups.get("last_wd")
    nth: int | None = None
    if groups.get("nth"):
        nth = _parse_int(groups["nth"], "bad_nth", last=False)
    elif groups.get("last_wd"):
        nth = LAST
    day: int | None = None
    if groups.get("day"):
        day = _parse_int(groups["day"], "bad_day", last=False)
    elif groups.get("last_day"):
        day = LAST
    return Rule(
        kind,
        at=at,
        weekday=None if weekday is None else _parse_weekday(weekday),
        nth=nth,
        day=day,
        months=_parse_months(groups["months"]) if groups.get("months") else (),
    )


# ============================================================================== reminders


@dataclass(frozen=True, slots=True)
class Offset:
    """How long before an occurrence to remind, always counted backwards.

    ``bd``: business days before (0 = the day itself), ``d``: calendar days before, both at
    ``at`` (None: the occurrence's own time); ``h`` / ``m``: hours or minutes before.
    """

    unit: Literal["bd", "d", "h", "m"]
    amount: int
    at: dt.time | None = None

    def __post_init__(self) -> None:
        timed_unit = self.unit in ("bd", "d")
        if (
            self.unit not in ("bd", "d", "h", "m")
            or not 0 <= self.amount <= _MAX_OFFSET
            or (self.at is not None and (not timed_unit or self.at.tzinfo is not None))
        ):
            raise RuleError("bad_offset", value=repr(self))


_OFFSET_FORMS: Final = (
    re.compile(rf"-?(?P<amount>[0-9]+)(?P<unit>bd|d)(?:@{_TIME})?", re.IGNORECASE),
    re.compile(r"-?(?P<amount>[0-9]+)(?P<unit>h|m|min)", re.IGNORECASE),
    re.compile(rf"(?P<amount>[0-9]+)(?P<unit>営業日|日)前(?:の|@)?(?:{_TIME})?"),
    re.compile(rf"(?P<unit>前日|当日)(?:の|@)?(?:{_TIME})?"),
    re.compile(r"(?P<amount>[0-9]+)(?P<unit>時間|分)前"),
)
_OFFSET_UNITS: Final[dict[str, Literal["bd", "d", "h", "m"]]] = {
    "bd": "bd",
    "d": "d",
    "h": "h",
    "m": "m",
    "min": "m",
    "営業日": "bd",
    "日": "d",
    "前日": "d",
    "当日": "d",
    "時間": "h",
    "分": "m",
}


def parse_offset(text: str) -> Offset:
    """``3bd@09:00``, ``0d@09:00``, ``-1h``, ``30m`` or 3営業日前 9:00, 前日 17:00, 1時間前."""
    folded = normalize(text).replace(" ", "")
    for form in _OFFSET_FORMS:
        match = form.fullmatch(folded)
        if match is None:
            continue
        groups = match.groupdict()
        unit_word = groups["unit"].casefold() if groups["unit"].isascii() else groups["unit"]
        amount = int(groups.get("amount") or (1 if unit_word == "前日" else 0))
        if amount > _MAX_OFFSET:
            raise RuleError("bad_offset", value=text)
        at = _time_from(match, text) if groups.get("hour") else None
        return Offset(_OFFSET_UNITS[unit_word], amount, at)
    raise RuleError("bad_offset", value=text)


def reminder_times(
    occurrence: dt.datetime,
    offsets: Iterable[str | Offset],
    calendar: MunicipalCalendar,
    policy: AdjustPolicy = "previous",
) -> list[dt.datetime]:
    """When to remind about ``occurrence``: sorted, without repeats, each on a business day.

    A reminder that falls on a closed day moves to the previous or next business day at the
    same clock time. With ``"next"`` it may land after the occurrence (a duty due on a
    holiday is done on the next business day); the caller decides what that means.
    """
    local = calendar.local_now(occurrence)
    parsed = [offset if isinstance(offset, Offset) else parse_offset(offset) for offset in offsets]
    return sorted(
        {_moved(_reminder(local, offset, calendar), calendar, policy) for offset in parsed}
    )


def _reminder(local: dt.datetime, offset: Offset, calendar: MunicipalCalendar) -> dt.datetime:
    # Hours and minutes are elapsed time, so subtract in UTC (wall-clock arithmetic on an aware
    # datetime would be off by the DST shift in zones that have one).
    if offset.unit in ("h", "m"):
        minutes = offset.amount * 60 if offset.unit == "h" else offset.amount
        delta = dt.timedelta(minutes=minutes)
        return calendar.local_now(local.astimezone(dt.UTC) - delta)
    if offset.unit == "bd" and offset.amount:
        day = calendar.add_business_days(local.date(), -offset.amount)
    else:
        day = local.date() - dt.timedelta(days=offset.amount)
    return dt.datetime.combine(day, offset.at or local.time(), tzinfo=calendar.zone)


def _moved(moment: dt.datetime, calendar: MunicipalCalendar, policy: AdjustPolicy) -> dt.datetime:
    day = calendar.adjust(moment.date(), policy)
    return moment if day == moment.date() else dt.datetime.combine(day, moment.timetz())


# ============================================================================== describing


def describe(rule: Rule, catalog: Catalog, locale: str | None) -> str:
    """The rule in words, from catalogue keys under ``recurrence.describe`` (no text in code)."""
    values: dict[str, object] = {"time": f"{rule.at.hour}:{rule.at.minute:02d}"}
    if rule.weekday is not None:
        values["weekday"] = catalog.t(locale, f"recurrence.weekday.{WEEKDAYS[rule.weekday]}")
    if rule.kind in ("monthly", "quarterly"):
        values["when"] = _describe_when(rule, catalog, locale)
    if rule.months:
        separator = catalog.t(locale, "recurrence.describe.month_separator")
        values["months"] = separator.join(str(month) for month in rule.months)
    if rule.date is not None:
        weekday = WEEKDAYS[rule.date.weekday()]
        values.update(
            year=rule.date.year,
            month=rule.date.month,
            day=rule.date.day,
            weekday=catalog.t(locale, f"recurrence.weekday.{weekday}"),
        )
    return catalog.t(locale, f"recurrence.describe.{rule.kind}", **values)


def _describe_when(rule: Rule, catalog: Catalog, locale: str | None) -> str:
    if rule.day == LAST:
        return catalog.t(locale, "recurrence.when.last_day")
    if rule.day is not None:
        return catalog.t(locale, "recurrence.when.day", day=rule.day)
    assert rule.weekday is not None
    weekday = catalog.t(locale, f"recurrence.weekday.{WEEKDAYS[rule.weekday]}")
    if rule.nth == LAST:
        return catalog.t(locale, "recurrence.when.last_weekday", weekday=weekday)
    ordinal = catalog.t(locale, f"recurrence.ordinal.{rule.nth}")
    return catalog.t(locale, "recurrence.when.nth", ordinal=ordinal, weekday=weekday)
