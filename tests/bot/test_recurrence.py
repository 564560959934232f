"""Recurrence rules for duties: reading them, their occurrences and their reminders.

Like the calendar tests, every test runs with the process time zone set to UTC and to
Asia/Tokyo. Weekdays and holidays used below: 2026-01-01 is a Thursday; 2026-02-11 (第2水曜)
is 建国記念の日; Golden Week is 4/29 and 5/2–5/6; 2026-12-29 … 2027-01-03 is 年末年始.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot.recurrence
from bot.calendar import MunicipalCalendar
from bot.i18n import Catalog
from bot.recurrence import (
    LAST,
    Offset,
    Rule,
    RuleError,
    describe,
    parse_offset,
    parse_rule,
    reminder_times,
)
from tests.conftest import in_process_zone

PROPERTY = settings(max_examples=200, deadline=None)
TOKYO = ZoneInfo("Asia/Tokyo")
CAL = MunicipalCalendar()
CATALOG = Catalog.load()


@pytest.fixture(autouse=True, scope="module", params=["UTC", "Asia/Tokyo"])
def process_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    with in_process_zone(request.param) as zone:
        yield zone


def jst(text: str) -> datetime:
    """``2026-05-07 14:00`` as an aware Tokyo datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO)


def between(rule: Rule | str, start: str, end: str) -> list[str]:
    """Occurrences in [start, end) as ``YYYY-MM-DD HH:MM`` strings, for readable tables."""
    parsed = parse_rule(rule) if isinstance(rule, str) else rule
    found = parsed.occurrences(jst(start), jst(end), CAL)
    return [moment.strftime("%Y-%m-%d %H:%M") for moment in found]


def test_the_process_zone_really_changes(process_tz: str) -> None:
    assert time.strftime("%z", time.localtime(0)) == ("+0000" if process_tz == "UTC" else "+0900")


def test_the_public_names() -> None:
    assert set(bot.recurrence.__all__) == {
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
    }


# ------------------------------------------------------------------------------- parsing

WED_2ND_14 = "monthly nth=2 weekday=wed at=14:00"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        # the key=value form, canonical and loose
        (WED_2ND_14, WED_2ND_14),
        ("Monthly NTH=2 Weekday=Wednesday at=14時", WED_2ND_14),
        ("weekly weekday=mon at=09:00", "weekly weekday=mon at=09:00"),
        ("weekly weekday=月曜日 at=9:00", "weekly weekday=mon at=09:00"),
        ("monthly day=25 at=17:00", "monthly day=25 at=17:00"),
        ("monthly day=last at=17:00", "monthly day=last at=17:00"),
        ("monthly nth=last weekday=fri", "monthly nth=last weekday=fri at=09:00"),
        ("quarterly months=6,9,12,3 day=25", "quarterly months=3,6,9,12 day=25 at=09:00"),
        (
            "quarterly months=6、9、12、3 nth=1 weekday=mon",
            "quarterly months=3,6,9,12 nth=1 weekday=mon at=09:00",
        ),
        ("once date=2026-12-25 at=17:00", "once date=2026-12-25 at=17:00"),
        ("once date=令和8年12月25日", "once date=2026-12-25 at=09:00"),
        ("daily at=09:00", "daily at=09:00"),
        ("daily", "daily at=09:00"),
        ("ｍｏｎｔｈｌｙ　ｄａｙ＝２５　ａｔ＝１７：００", "monthly day=25 at=17:00"),
        # the Japanese form
        ("毎月第2水曜 14:00", WED_2ND_14),
        ("毎月第2水曜日 14:00", WED_2ND_14),
        ("毎月第２水曜　１４：００", WED_2ND_14),
        ("毎月第二水曜日 午後2時", WED_2ND_14),
        ("毎月第2水曜の14時", WED_2ND_14),
        ("毎月第2水曜14:00", WED_2ND_14),
        ("毎月最終金曜 16時半", "monthly nth=last weekday=fri at=16:30"),
        ("毎月最終日曜", "monthly nth=last weekday=sun at=09:00"),
        ("毎週月曜 9:00", "weekly weekday=mon at=09:00"),
        ("毎週月曜日 午前9時", "weekly weekday=mon at=09:00"),
        ("毎週金 17時15分", "weekly weekday=fri at=17:15"),
        ("毎月25日 17:00", "monthly day=25 at=17:00"),
        ("毎月二十五日 十七時", "monthly day=25 at=17:00"),
        ("毎月１日", "monthly day=1 at=09:00"),
        ("毎月末日", "monthly day=last at=09:00"),
        ("毎月末日 17:00", "monthly day=last at=17:00"),
        ("毎月末", "monthly day=last at=09:00"),
        ("毎月最終日", "monthly day=last at=09:00"),
        ("毎日 9:00", "daily at=09:00"),
        ("毎営業日 8:30", "daily at=08:30"),
        ("四半期 6・9・12・3月25日", "quarterly months=3,6,9,12 day=25 at=09:00"),
        ("四半期ごと(6,9,12,3月)の末日 17:00", "quarterly months=3,6,9,12 day=last at=17:00"),
        (
            "毎年6月・9月・12月・3月の第1月曜",
            "quarterly months=3,6,9,12 nth=1 weekday=mon at=09:00",
        ),
        # one-offs
        ("2026-12-25 17:00", "once date=2026-12-25 at=17:00"),
        ("2026/12/25", "once date=2026-12-25 at=09:00"),
        ("令和8年12月25日", "once date=2026-12-25 at=09:00"),
        ("令和８年１２月２５日(金) １７時", "once date=2026-12-25 at=17:00"),
        ("令和八年十二月二十五日 十七時半", "once date=2026-12-25 at=17:30"),
        ("R8.12.25 17:00", "once date=2026-12-25 at=17:00"),
    ],
)
def test_parse_rule(typed: str, canonical: str) -> None:
    rule = parse_rule(typed)
    assert rule.to_text() == canonical
    assert parse_rule(canonical) == rule


@pytest.mark.parametrize(
    ("typed", "reason", "values"),
    [
        ("", "empty", {}),
        ("\u3000 ", "empty", {}),
        ("yearly day=1", "unknown_kind", {"kind": "yearly"}),
        ("weekly mon", "not_a_pair", {"token": "mon"}),
        ("weekly weekday=", "not_a_pair", {"token": "weekday="}),
        ("weekly weekday=mon every=2", "unknown_key", {"key": "every"}),
        ("weekly weekday=mon weekday=tue", "duplicate_key", {"key": "weekday"}),
        ("daily weekday=mon", "not_allowed", {"key": "weekday", "kind": "daily"}),
        ("monthly months=1,4,7,10 day=1", "not_allowed", {"key": "months", "kind": "monthly"}),
        ("weekly", "missing", {"key": "weekday"}),
        ("monthly", "missing", {"key": "day"}),
        ("monthly weekday=wed", "missing", {"key": "nth"}),
        ("monthly nth=2", "missing", {"key": "weekday"}),
        ("quarterly day=25", "missing", {"key": "months"}),
        ("once at=17:00", "missing", {"key": "date"}),
        ("monthly day=25 nth=2 weekday=wed", "day_and_nth", {}),
        ("weekly weekday=mon at=25:00", "bad_time", {"value": "25:00"}),
        ("weekly weekday=mon at=9", "bad_time", {"value": "9"}),
        ("weekly weekday=mon at=午後1時半", None, {}),  # accepted: 13:30
        ("weekly weekday=mon at=午後12時", "bad_time", {"value": "午後12時"}),
        ("毎週月曜 9:75", "bad_time", {}),
        ("weekly weekday=xyz", "bad_weekday", {"value": "xyz"}),
        ("monthly nth=5 weekday=wed", "bad_nth", {"value": 5}),
        ("monthly nth=0 weekday=wed", "bad_nth", {"value": 0}),
        ("毎月第5水曜", "bad_nth", {"value": 5}),
        ("monthly nth=second weekday=wed", "bad_nth", {"value": "second"}),
        ("monthly day=32", "bad_day", {"value": 32}),
        ("monthly day=0", "bad_day", {"value": 0}),
        ("毎月32日", "bad_day", {"value": 32}),
        ("quarterly months=13,4,7,10 day=1", "bad_month", {"value": 13}),
        ("quarterly months=x day=1", "bad_month", {"value": "x"}),
        ("quarterly months=1,2,3,4 day=1", "quarterly_months", {"months": "1,2,3,4"}),
        ("quarterly months=6,9,12 day=1", "quarterly_months", {"months": "6,9,12"}),
        ("毎年6月25日", "quarterly_months", {"months": "6"}),
        ("once date=someday", "bad_date", {"value": "someday"}),
        ("2026-02-30", "no_such_date", {"year": 2026, "month": 2, "day": 30}),
        ("once date=2027-02-29", "no_such_date", {"year": 2027, "month": 2, "day": 29}),
        ("令和1年4月1日", "era_out_of_range", {"era": "令和"}),
        ("12/25 17:00", "year_needed", {"value": "12/25"}),
        ("12月25日", "year_needed", {"value": "12月25日"}),
        ("2/29", "year_needed", {"value": "2/29"}),
        ("明日", "year_needed", {"value": "明日"}),
        ("毎月のどこか", "unrecognised", {"text": "毎月のどこか"}),
        ("毎週", "unrecognised", {"text": "毎週"}),
        ("隔週火曜", "unrecognised", {"text": "隔週火曜"}),
        ("9:00", "unrecognised", {"text": "9:00"}),
    ],
)
def test_refused_rules(typed: str, reason: str | None, values: dict[str, object]) -> None:
    if reason is None:
        assert parse_rule(typed).at == clock(13, 30)
        return
    with pytest.raises(RuleError) as caught:
        parse_rule(typed)
    assert caught.value.reason == reason
    for name, value in values.items():
        assert caught.value.values[name] == value, name
    assert_has_message(caught.value)


def assert_has_message(error: RuleError) -> None:
    """Every reason has a message in both locales, with every placeholder filled."""
    for locale in ("ja", "en"):
        assert error.key in CATALOG.keys(locale)
        text = CATALOG.t(locale, error.key, **error.values)
        assert not re.search(r"{\w+}", text), text


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: Rule("weekly"), "missing"),
        (lambda: Rule("daily", weekday=0), "not_allowed"),
        (lambda: Rule("weekly", weekday=7), "bad_weekday"),
        (lambda: Rule("monthly", day=LAST, weekday=2), "day_and_nth"),
        (lambda: Rule("monthly", day=1, at=clock(9, 0, 30)), "bad_time"),
        (lambda: Rule("monthly", day=1, at=clock(9, 0, tzinfo=UTC)), "bad_time"),
        (lambda: Rule("once", date=datetime(2026, 12, 25, 17, 0)), "bad_date"),
        (lambda: Rule("hourly"), "unknown_kind"),  # type: ignore[arg-type]
    ],
)
def test_rules_built_in_code_are_checked_too(build: object, reason: str) -> None:
    with pytest.raises(RuleError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.reason == reason
    assert_has_message(caught.value)


def test_rules_are_values() -> None:
    a = parse_rule("quarterly months=6,9,12,3 day=25")
    b = Rule("quarterly", day=25, months=(3, 12, 9, 6))
    assert a == b and hash(a) == hash(b) and a.months == (3, 6, 9, 12)


# --------------------------------------------------------------------------- occurrences


def test_second_wednesday_across_a_year_and_a_holiday() -> None:
    # 2026-02-11 is 建国記念の日: the meeting is still there (a meeting is where it is).
    assert between("毎月第2水曜 14:00", "2026-01-01 00:00", "2027-01-01 00:00") == [
        "2026-01-14 14:00",
        "2026-02-11 14:00",
        "2026-03-11 14:00",
        "2026-04-08 14:00",
        "2026-05-13 14:00",
        "2026-06-10 14:00",
        "2026-07-08 14:00",
        "2026-08-12 14:00",
        "2026-09-09 14:00",
        "2026-10-14 14:00",
        "2026-11-11 14:00",
        "2026-12-09 14:00",
    ]


@pytest.mark.parametrize(
    ("rule", "start", "end", "expected"),
    [
        # month end in a leap February and in a common one
        (
            "毎月末日 17:00",
            "2028-01-01 00:00",
            "2028-05-01 00:00",
            ["2028-01-31 17:00", "2028-02-29 17:00", "2028-03-31 17:00", "2028-04-30 17:00"],
        ),
        ("毎月末日 17:00", "2027-02-01 00:00", "2027-03-01 00:00", ["2027-02-28 17:00"]),
        # day=31 falls on the last day of shorter months rather than skipping them
        (
            "monthly day=31 at=10:00",
            "2028-01-01 00:00",
            "2028-05-01 00:00",
            ["2028-01-31 10:00", "2028-02-29 10:00", "2028-03-31 10:00", "2028-04-30 10:00"],
        ),
        (
            "毎月最終金曜 16:00",
            "2026-01-01 00:00",
            "2026-04-01 00:00",
            ["2026-01-30 16:00", "2026-02-27 16:00", "2026-03-27 16:00"],
        ),
        # quarterly reports to the committee across 令和8年度
        (
            "quarterly months=6,9,12,3 day=25",
            "2026-04-01 00:00",
            "2027-04-01 00:00",
            ["2026-06-25 09:00", "2026-09-25 09:00", "2026-12-25 09:00", "2027-03-25 09:00"],
        ),
        # weekly on a Monday that is 敬老の日: still there
        (
            "毎週月曜 9:00",
            "2026-09-14 00:00",
            "2026-09-29 00:00",
            ["2026-09-14 09:00", "2026-09-21 09:00", "2026-09-28 09:00"],
        ),
        # daily means business days only: Golden Week …
        (
            "daily at=09:00",
            "2026-04-27 00:00",
            "2026-05-11 00:00",
            [
                "2026-04-27 09:00",
                "2026-04-28 09:00",
                "2026-04-30 09:00",
                "2026-05-01 09:00",
                "2026-05-07 09:00",
                "2026-05-08 09:00",
            ],
        ),
        # … and the year end
        (
            "毎日 9:00",
            "2026-12-25 00:00",
            "2027-01-06 00:00",
            ["2026-12-25 09:00", "2026-12-28 09:00", "2027-01-04 09:00", "2027-01-05 09:00"],
        ),
        # one-offs written in 令和
        ("令和8年12月25日 17:00", "2026-01-01 00:00", "2028-01-01 00:00", ["2026-12-25 17:00"]),
        ("令和8年12月25日 17:00", "2027-01-01 00:00", "2028-01-01 00:00", []),
        # bounds: start inclusive, end exclusive
        ("毎月25日 17:00", "2026-06-25 17:00", "2026-07-25 17:00", ["2026-06-25 17:00"]),
        ("毎月25日 17:00", "2026-06-25 17:01", "2026-07-25 17:01", ["2026-07-25 17:00"]),
        ("毎月25日 17:00", "2026-06-26 00:00", "2026-06-25 00:00", []),
    ],
)
def test_occurrences(rule: str, start: str, end: str, expected: list[str]) -> None:
    assert between(rule, start, end) == expected


def test_occurrences_are_tokyo_times_whatever_zone_the_bounds_are_in() -> None:
    rule = parse_rule("毎月第2水曜 14:00")
    start = datetime(2026, 1, 14, 5, 0, tzinfo=UTC)  # = 14:00 JST: included
    end = datetime(2026, 2, 11, 5, 0, tzinfo=UTC)  # = 14:00 JST: excluded
    found = list(rule.occurrences(start, end, CAL))
    assert found == [jst("2026-01-14 14:00")]
    assert found[0].tzinfo == TOKYO and found[0].utcoffset() == timedelta(hours=9)


def test_naive_bounds_are_refused_at_once() -> None:
    rule = parse_rule("daily")
    with pytest.raises(ValueError, match="aware"):
        rule.occurrences(datetime(2026, 1, 1), jst("2026-02-01 00:00"), CAL)
    with pytest.raises(ValueError, match="aware"):
        rule.next_after(datetime(2026, 1, 1), CAL)


def test_daily_follows_the_towns_own_closures() -> None:
    town = MunicipalCalendar(extra_closures=[date(2026, 6, 15)])
    found = parse_rule("daily").occurrences(jst("2026-06-12 00:00"), jst("2026-06-17 00:00"), town)
    assert [moment.date() for moment in found] == [date(2026, 6, 12), date(2026, 6, 16)]


@pytest.mark.parametrize(
    ("rule", "after", "expected"),
    [
        ("毎月第2水曜 14:00", "2026-01-14 14:00", "2026-02-11 14:00"),  # strictly after
        ("毎月第2水曜 14:00", "2026-01-14 13:59", "2026-01-14 14:00"),
        ("毎週月曜 9:00", "2026-12-31 12:00", "2027-01-04 09:00"),
        ("daily at=09:00", "2026-12-28 09:00", "2027-01-04 09:00"),
        ("daily at=09:00", "2026-05-01 08:00", "2026-05-01 09:00"),
        ("quarterly months=6,9,12,3 day=25", "2026-12-25 09:00", "2027-03-25 09:00"),
        ("令和8年12月25日 17:00", "2026-12-25 16:59", "2026-12-25 17:00"),
        ("令和8年12月25日 17:00", "2026-12-25 17:00", None),
    ],
)
def test_next_after(rule: str, after: str, expected: str | None) -> None:
    found = parse_rule(rule).next_after(jst(after), CAL)
    assert found == (None if expected is None else jst(expected))


def test_next_after_an_instant_in_utc() -> None:
    # 2026-01-13 23:30 UTC is already 1/14 08:30 in Tokyo: today's meeting is next.
    found = parse_rule(WED_2ND_14).next_after(datetime(2026, 1, 13, 23, 30, tzinfo=UTC), CAL)
    assert found == jst("2026-01-14 14:00")


# ---------------------------------------------------------------------------- reminders


@pytest.mark.parametrize(
    ("typed", "offset"),
    [
        ("3bd@09:00", Offset("bd", 3, clock(9, 0))),
        ("-3bd@9:00", Offset("bd", 3, clock(9, 0))),
        ("0d@09:00", Offset("d", 0, clock(9, 0))),
        ("1d", Offset("d", 1)),
        ("-1h", Offset("h", 1)),
        ("2h", Offset("h", 2)),
        ("-30m", Offset("m", 30)),
        ("30min", Offset("m", 30)),
        ("３ＢＤ＠０９：００", Offset("bd", 3, clock(9, 0))),
        ("3営業日前 9:00", Offset("bd", 3, clock(9, 0))),
        ("3営業日前の9時", Offset("bd", 3, clock(9, 0))),
        ("2日前 17時", Offset("d", 2, clock(17, 0))),
        ("前日 17:00", Offset("d", 1, clock(17, 0))),
        ("前日", Offset("d", 1)),
        ("当日 9:00", Offset("d", 0, clock(9, 0))),
        ("1時間前", Offset("h", 1)),
        ("30分前", Offset("m", 30)),
    ],
)
def test_parse_offset(typed: str, offset: Offset) -> None:
    assert parse_offset(typed) == offset


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "bad_offset"),
        ("+1h", "bad_offset"),
        ("3x", "bad_offset"),
        ("1h@09:00", "bad_offset"),
        ("1000d", "bad_offset"),
        ("3bd@25:00", "bad_time"),
    ],
)
def test_refused_offsets(typed: str, reason: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_offset(typed)
    assert caught.value.reason == reason
    assert_has_message(caught.value)


@pytest.mark.parametrize(
    ("occurrence", "offsets", "policy", "expected"),
    [
        # 3 business days before, across Golden Week (5/7 ← 5/1 ← 4/30 ← 4/28)
        ("2026-05-07 14:00", ["3bd@09:00"], "previous", ["2026-04-28 09:00"]),
        # … and across the year end (1/6 ← 1/5 ← 1/4 ← 12/28)
        ("2027-01-06 10:00", ["3bd@09:00"], "previous", ["2026-12-28 09:00"]),
        ("2027-01-04 10:00", ["1bd@17:00"], "next", ["2026-12-28 17:00"]),
        # … and across silver week (9/24 ← 9/18 ← 9/17)
        ("2026-09-24 10:00", ["2bd@09:00"], "previous", ["2026-09-17 09:00"]),
        # a reminder on a Saturday moves to Friday (previous) or Monday (next)
        ("2026-06-13 10:00", ["0d@09:00"], "previous", ["2026-06-12 09:00"]),
        ("2026-06-13 10:00", ["0d@09:00"], "next", ["2026-06-15 09:00"]),
        ("2026-06-15 10:00", ["2d@09:00"], "previous", ["2026-06-12 09:00"]),
        ("2026-06-15 10:00", ["2d@09:00"], "next", ["2026-06-15 09:00"]),
        # the day before a meeting after Golden Week is 振替休日 5/6
        ("2026-05-07 14:00", ["前日 17:00"], "previous", ["2026-05-01 17:00"]),
        # without a time, a day offset keeps the occurrence's time
        ("2026-06-17 14:00", ["1d"], "previous", ["2026-06-16 14:00"]),
        ("2026-06-17 14:00", ["0bd"], "previous", ["2026-06-17 14:00"]),
        ("2026-06-13 14:00", ["0bd"], "next", ["2026-06-15 14:00"]),
        # hours and minutes before, and the closed day they may land on
        ("2026-06-15 09:30", ["-1h"], "previous", ["2026-06-15 08:30"]),
        ("2026-06-15 09:30", ["-30m"], "previous", ["2026-06-15 09:00"]),
        ("2026-06-15 00:30", ["-1h"], "previous", ["2026-06-12 23:30"]),
        ("2026-06-15 00:30", ["-1h"], "next", ["2026-06-15 23:30"]),
        # several offsets: sorted, and two that land together count once
        (
            "2026-06-15 10:00",
            ["-1h", "3bd@09:00", "0d@09:00", "1d@09:00", "2d@09:00"],
            "previous",
            ["2026-06-10 09:00", "2026-06-12 09:00", "2026-06-15 09:00"],
        ),
        ("2026-06-15 10:00", [], "previous", []),
    ],
)
def test_reminder_times(
    occurrence: str, offsets: list[str], policy: str, expected: list[str]
) -> None:
    found = reminder_times(jst(occurrence), offsets, CAL, policy)  # type: ignore[arg-type]
    assert [moment.strftime("%Y-%m-%d %H:%M") for moment in found] == expected
    assert all(moment.tzinfo == TOKYO for moment in found)


def test_reminders_for_an_occurrence_given_in_utc() -> None:
    occurrence = datetime(2026, 5, 7, 5, 0, tzinfo=UTC)  # 14:00 in Tokyo
    found = reminder_times(occurrence, [Offset("bd", 3, clock(9, 0)), "-1h"], CAL)
    assert found == [jst("2026-04-28 09:00"), jst("2026-05-07 13:00")]


def test_reminders_skip_the_towns_own_closures() -> None:
    town = MunicipalCalendar(extra_closures=[date(2026, 6, 12)])
    found = reminder_times(jst("2026-06-15 10:00"), ["1bd@09:00", "1d@09:00"], town)
    assert found == [jst("2026-06-11 09:00")]


@pytest.mark.parametrize(
    ("unit", "amount", "at"),
    [("bd", -1, None), ("d", 1000, None), ("h", 1, clock(9, 0)), ("w", 1, None)],
)
def test_offsets_built_in_code_are_checked_too(unit: str, amount: int, at: clock | None) -> None:
    with pytest.raises(RuleError) as caught:
        Offset(unit, amount, at)  # type: ignore[arg-type]
    assert caught.value.reason == "bad_offset"


def test_a_bad_offset_is_refused_before_any_reminder_is_made() -> None:
    with pytest.raises(RuleError):
        reminder_times(jst("2026-06-15 10:00"), ["1d@09:00", "soon"], CAL)


# ----------------------------------------------------------------------------- describing


@pytest.mark.parametrize(
    ("typed", "ja", "en"),
    [
        (
            "毎月第2水曜 14:00",
            "毎月第2水曜日 14:00",
            "every month on the second Wednesday at 14:00",
        ),
        ("毎月最終金曜", "毎月最終金曜日 9:00", "every month on the last Friday at 9:00"),
        ("毎週月曜 9:00", "毎週月曜日 9:00", "every Monday at 9:00"),
        ("毎月25日 17:00", "毎月25日 17:00", "every month on day 25 at 17:00"),
        ("毎月末日 17:00", "毎月末日 17:00", "every month on the last day at 17:00"),
        ("daily at=08:30", "毎営業日 8:30", "every business day at 8:30"),
        (
            "quarterly months=6,9,12,3 day=25",
            "四半期ごと(3・6・9・12月)の25日 9:00",
            "each quarter (months 3, 6, 9, 12) on day 25 at 9:00",
        ),
        ("令和8年12月25日 17:00", "2026年12月25日(金) 17:00", "Friday, 12/25/2026 at 17:00"),
    ],
)
def test_describe(typed: str, ja: str, en: str) -> None:
    rule = parse_rule(typed)
    assert describe(rule, CATALOG, "ja") == ja
    assert describe(rule, CATALOG, "en") == en


# ------------------------------------------------------------------------------ properties

TIMES = st.builds(clock, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
WEEKDAY = st.integers(0, 6)
NTH = st.sampled_from([1, 2, 3, 4, LAST])
DAY = st.one_of(st.integers(1, 31), st.just(LAST))
QUARTERS = st.integers(1, 3).map(lambda first: (first, first + 3, first + 6, first + 9))
RULES = st.one_of(
    st.builds(Rule, st.just("daily"), TIMES),
    st.builds(Rule, st.just("weekly"), TIMES, weekday=WEEKDAY),
    st.builds(Rule, st.just("monthly"), TIMES, day=DAY),
    st.builds(Rule, st.just("monthly"), TIMES, nth=NTH, weekday=WEEKDAY),
    st.builds(Rule, st.just("quarterly"), TIMES, day=DAY, months=QUARTERS),
    st.builds(Rule, st.just("quarterly"), TIMES, nth=NTH, weekday=WEEKDAY, months=QUARTERS),
    st.builds(
        Rule,
        st.just("once"),
        TIMES,
        date=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)),
    ),
)
STARTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)
SPANS = st.integers(min_value=0, max_value=24 * 200).map(lambda hours: timedelta(hours=hours))


@PROPERTY
@given(RULES, STARTS, SPANS)
def test_occurrences_are_sorted_unique_and_within_bounds(
    rule: Rule, start: datetime, span: timedelta
) -> None:
    found = list(rule.occurrences(start, start + span, CAL))
    assert found == sorted(set(found))
    assert all(start <= moment < start + span for moment in found)
    assert all(
        moment.tzinfo == TOKYO and moment.timetz().replace(tzinfo=None) == rule.at
        for moment in found
    )
    if rule.kind == "daily":
        assert all(CAL.is_business_day(moment.date()) for moment in found)


@PROPERTY
@given(RULES, STARTS)
def test_next_after_walks_the_occurrences(rule: Rule, start: datetime) -> None:
    found = list(rule.occurrences(start, start + timedelta(days=400), CAL))
    for earlier, later in pairwise(found):
        assert rule.next_after(earlier, CAL) == later
    if found:
        assert rule.next_after(start - timedelta(microseconds=1), CAL) == found[0]


@PROPERTY
@given(RULES)
def test_the_canonical_text_reads_back_as_the_same_rule(rule: Rule) -> None:
    assert parse_rule(rule.to_text()) == rule


@PROPERTY
@given(NTH, WEEKDAY, st.integers(2025, 2030), st.integers(1, 12))
def test_nth_weekday_matches_a_plain_count(nth: int, weekday: int, year: int, month: int) -> None:
    rule = Rule("monthly", nth=nth, weekday=weekday)
    first = datetime(year, month, 1, tzinfo=TOKYO)
    after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=TOKYO)
    (found,) = rule.occurrences(first, after, CAL)
    days = [first.date() + timedelta(days=i) for i in range((after - first).days)]
    matching = [day for day in days if day.weekday() == weekday]
    assert found.date() == matching[-1 if nth == LAST else nth - 1]


@PROPERTY
@given(
    RULES,
    STARTS,
    st.lists(
        st.sampled_from(["3bd@09:00", "1bd@17:00", "0d@09:00", "1d", "-1h", "-30m", "0bd"]),
        max_size=4,
    ),
    st.sampled_from(["previous", "next"]),
)
def test_reminders_are_sorted_unique_and_on_business_days(
    rule: Rule, start: datetime, offsets: list[str], policy: str
) -> None:
    occurrence = rule.next_after(start, CAL)
    if occurrence is None:
        return
    found = reminder_times(occurrence, offsets, CAL, policy)  # type: ignore[arg-type]
    assert found == sorted(set(found))
    assert all(CAL.is_business_day(moment.date()) for moment in found)
    if policy == "previous":
        assert all(moment.date() <= occurrence.date() for moment in found)
