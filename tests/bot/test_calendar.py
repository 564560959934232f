"""The municipal calendar: closed days, business-day arithmetic, local time and 年度.

Every test runs twice, with the process time zone set to UTC and to Asia/Tokyo, because a
calendar that quietly used the process zone would pass in one and fail in the other. The
2026 holidays used here are the real ones (checked against the ``holidays`` package):
GW 4/29, 5/3–5/5 and 5/6 振替休日; 9/21 敬老の日, 9/22 国民の休日, 9/23 秋分の日.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot.calendar
from bot.calendar import MunicipalCalendar, national_holidays
from tests.conftest import in_process_zone

PROPERTY = settings(max_examples=300, deadline=None)
TOKYO = ZoneInfo("Asia/Tokyo")
CAL = MunicipalCalendar()
DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@pytest.fixture(autouse=True, scope="module", params=["UTC", "Asia/Tokyo"])
def process_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    with in_process_zone(request.param) as zone:
        yield zone


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_the_process_zone_really_changes(process_tz: str) -> None:
    assert time.strftime("%z", time.localtime(0)) == ("+0000" if process_tz == "UTC" else "+0900")


def test_the_public_names() -> None:
    assert set(bot.calendar.__all__) == {
        "AdjustPolicy",
        "ClosureReason",
        "MunicipalCalendar",
        "national_holidays",
    }


# ------------------------------------------------------------------------------ closed days


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        # 2026 silver week: 敬老の日, 国民の休日 (sandwiched), 秋分の日 after a weekend
        ("2026-09-18", None),
        ("2026-09-19", "weekend"),
        ("2026-09-20", "weekend"),
        ("2026-09-21", "holiday"),
        ("2026-09-22", "holiday"),
        ("2026-09-23", "holiday"),
        ("2026-09-24", None),
        # Golden Week 2026: 5/3 is a Sunday, so 5/6 is 振替休日
        ("2026-04-28", None),
        ("2026-04-29", "holiday"),
        ("2026-04-30", None),
        ("2026-05-01", None),
        ("2026-05-02", "weekend"),
        ("2026-05-03", "holiday"),
        ("2026-05-04", "holiday"),
        ("2026-05-05", "holiday"),
        ("2026-05-06", "holiday"),
        ("2026-05-07", None),
        # 年末年始, which wins over 元日 and the weekend inside it
        ("2026-12-28", None),
        ("2026-12-29", "year_end"),
        ("2026-12-31", "year_end"),
        ("2027-01-01", "year_end"),
        ("2027-01-02", "year_end"),
        ("2027-01-03", "year_end"),
        ("2027-01-04", None),
        ("2027-01-11", "holiday"),  # 成人の日
        # other holidays and plain days
        ("2026-02-11", "holiday"),  # 建国記念の日
        ("2026-02-23", "holiday"),  # 天皇誕生日
        ("2026-11-23", "holiday"),  # 勤労感謝の日
        ("2026-06-15", None),
        ("2028-02-29", None),
    ],
)
def test_closure_reason(day: str, reason: str | None) -> None:
    assert CAL.closure_reason(d(day)) == reason
    assert CAL.is_business_day(d(day)) is (reason is None)


def test_the_library_has_the_2026_substitute_and_citizens_holidays() -> None:
    assert {d("2026-05-06"), d("2026-09-22")} <= national_holidays(2026)
    assert len(national_holidays(2026)) == 18


def test_holiday_lookups_are_cached_per_year() -> None:
    assert national_holidays(2031) is national_holidays(2031)


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        ("2026-12-29", None),
        ("2026-12-30", None),
        ("2026-12-31", None),
        ("2027-01-01", "holiday"),
        ("2027-01-02", "weekend"),
        ("2027-01-04", None),
    ],
)
def test_without_the_year_end_closure(day: str, reason: str | None) -> None:
    assert MunicipalCalendar(year_end=False).closure_reason(d(day)) == reason


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        ("2026-06-15", "closure"),  # a Monday: the town's own day
        ("2026-06-13", "weekend"),  # a closure on a Saturday is still a weekend
        ("2026-09-22", "holiday"),
        ("2026-06-16", None),
    ],
)
def test_extra_closures(day: str, reason: str | None) -> None:
    town = MunicipalCalendar(extra_closures=[d("2026-06-15"), d("2026-06-13"), d("2026-09-22")])
    assert town.closure_reason(d(day)) == reason


def test_a_datetime_is_refused_where_a_date_is_meant() -> None:
    moment = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)
    with pytest.raises(TypeError):
        CAL.is_business_day(moment)
    with pytest.raises(TypeError):
        MunicipalCalendar(extra_closures=[moment])
    with pytest.raises(TypeError):
        CAL.fiscal_year(moment)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        MunicipalCalendar(timezone="Asia/Nowhere")


# --------------------------------------------------------------------- business-day moves


@pytest.mark.parametrize(
    ("day", "include", "expected"),
    [
        ("2026-04-29", True, "2026-04-30"),
        ("2026-04-30", True, "2026-04-30"),
        ("2026-04-30", False, "2026-05-01"),
        ("2026-05-01", False, "2026-05-07"),
        ("2026-05-02", True, "2026-05-07"),
        ("2026-09-19", True, "2026-09-24"),
        ("2026-12-28", False, "2027-01-04"),
        ("2026-12-29", True, "2027-01-04"),
    ],
)
def test_next_business_day(day: str, include: bool, expected: str) -> None:
    assert CAL.next_business_day(d(day), include=include) == d(expected)


@pytest.mark.parametrize(
    ("day", "include", "expected"),
    [
        ("2026-05-06", True, "2026-05-01"),
        ("2026-05-07", True, "2026-05-07"),
        ("2026-05-07", False, "2026-05-01"),
        ("2026-09-23", True, "2026-09-18"),
        ("2027-01-04", False, "2026-12-28"),
        ("2027-01-03", True, "2026-12-28"),
    ],
)
def test_previous_business_day(day: str, include: bool, expected: str) -> None:
    assert CAL.previous_business_day(d(day), include=include) == d(expected)


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        ("2026-04-28", 1, "2026-04-30"),
        ("2026-04-28", 3, "2026-05-07"),
        ("2026-05-07", -3, "2026-04-28"),
        ("2026-05-07", -1, "2026-05-01"),
        ("2026-09-18", 1, "2026-09-24"),
        ("2026-09-24", -1, "2026-09-18"),
        ("2026-12-25", 1, "2026-12-28"),
        ("2026-12-25", 2, "2027-01-04"),
        ("2027-01-04", -2, "2026-12-25"),
        ("2027-01-06", -3, "2026-12-28"),
        # from a closed day the day itself is not counted
        ("2026-05-02", 1, "2026-05-07"),
        ("2026-05-02", -1, "2026-05-01"),
        # n = 0: the day if open, else the next business day
        ("2026-05-07", 0, "2026-05-07"),
        ("2026-05-02", 0, "2026-05-07"),
        ("2026-12-31", 0, "2027-01-04"),
    ],
)
def test_add_business_days(day: str, n: int, expected: str) -> None:
    assert CAL.add_business_days(d(day), n) == d(expected)


@pytest.mark.parametrize(
    ("a", "b", "count"),
    [
        ("2026-04-27", "2026-05-11", 6),  # 4/27 4/28 4/30 5/1 5/7 5/8
        ("2026-05-11", "2026-04-27", -6),
        ("2026-05-02", "2026-05-07", 0),
        ("2026-05-07", "2026-05-07", 0),
        ("2026-05-07", "2026-05-08", 1),
        ("2026-12-01", "2027-01-01", 20),  # 23 weekdays less 12/29–12/31
        ("2026-09-14", "2026-09-28", 7),  # 9/14–9/18, then 9/24 and 9/25
    ],
)
def test_business_days_between(a: str, b: str, count: int) -> None:
    assert CAL.business_days_between(d(a), d(b)) == count


def test_arithmetic_counts_the_towns_own_closures() -> None:
    town = MunicipalCalendar(extra_closures=[d("2026-04-30"), d("2026-05-01")])
    assert town.add_business_days(d("2026-04-28"), 1) == d("2026-05-07")
    assert town.business_days_between(d("2026-04-27"), d("2026-05-11")) == 4
    assert town.previous_business_day(d("2026-05-06")) == d("2026-04-28")


@pytest.mark.parametrize(
    ("day", "policy", "expected"),
    [
        ("2026-06-13", "previous", "2026-06-12"),  # Saturday → Friday
        ("2026-06-13", "next", "2026-06-15"),  # Saturday → Monday
        ("2026-05-04", "previous", "2026-05-01"),
        ("2026-05-04", "next", "2026-05-07"),
        ("2027-01-01", "previous", "2026-12-28"),
        ("2027-01-01", "next", "2027-01-04"),
        ("2026-06-12", "previous", "2026-06-12"),
        ("2026-06-12", "next", "2026-06-12"),
    ],
)
def test_adjust(day: str, policy: str, expected: str) -> None:
    assert CAL.adjust(d(day), policy) == d(expected)  # type: ignore[arg-type]


def test_adjust_refuses_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="policy"):
        CAL.adjust(d("2026-06-13"), "nearest")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ local time


@pytest.mark.parametrize(
    ("now", "local", "day"),
    [
        (datetime(2026, 3, 31, 14, 59, 59, tzinfo=UTC), "2026-03-31T23:59:59+09:00", "2026-03-31"),
        (datetime(2026, 3, 31, 15, 0, tzinfo=UTC), "2026-04-01T00:00:00+09:00", "2026-04-01"),
        (
            datetime(2026, 12, 31, 10, 0, tzinfo=ZoneInfo("America/New_York")),
            "2027-01-01T00:00:00+09:00",
            "2027-01-01",
        ),
        (datetime(2026, 7, 1, 0, 0, tzinfo=TOKYO), "2026-07-01T00:00:00+09:00", "2026-07-01"),
    ],
)
def test_local_now_and_today(now: datetime, local: str, day: str) -> None:
    assert CAL.local_now(now).isoformat() == local
    assert CAL.local_now(now).tzinfo == TOKYO
    assert CAL.today(now) == d(day)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        CAL.local_now(datetime(2026, 4, 1, 9, 0))
    with pytest.raises(ValueError, match="aware"):
        CAL.today(datetime(2026, 4, 1, 9, 0))


def test_at_is_aware_in_the_municipal_zone() -> None:
    moment = CAL.at(d("2026-12-01"), 9, 30)
    assert moment.isoformat() == "2026-12-01T09:30:00+09:00"
    assert moment.astimezone(UTC) == datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "day",
    ["2026-03-08", "2026-03-29", "2026-06-21", "2026-10-25", "2026-11-01", "2026-12-21"],
)
def test_no_daylight_saving_in_tokyo(day: str) -> None:
    # Dates where the US or EU clocks change: Tokyo's offset stays +09:00 all year.
    for hour in (0, 2, 9, 23):
        assert CAL.at(d(day), hour, 0).utcoffset() == timedelta(hours=9)
    assert CAL.local_now(CAL.at(d(day), 2, 30).astimezone(UTC)).hour == 2


def test_another_zone_is_honoured() -> None:
    sapporo_like = MunicipalCalendar(timezone="UTC")
    assert sapporo_like.today(datetime(2026, 3, 31, 20, 0, tzinfo=TOKYO)) == d("2026-03-31")
    assert sapporo_like.at(d("2026-03-31"), 9, 0).utcoffset() == timedelta(0)


# ---------------------------------------------------------------------------------- 年度


@pytest.mark.parametrize(
    ("day", "fiscal_year"),
    [
        ("2026-03-31", 2025),
        ("2026-04-01", 2026),
        ("2026-12-31", 2026),
        ("2027-01-01", 2026),
        ("2027-03-31", 2026),
        ("2027-04-01", 2027),
        ("2020-02-29", 2019),
    ],
)
def test_fiscal_year(day: str, fiscal_year: int) -> None:
    assert CAL.fiscal_year(d(day)) == fiscal_year


def test_fiscal_year_range() -> None:
    assert MunicipalCalendar.fiscal_year_range(2026) == (d("2026-04-01"), d("2027-04-01"))


# ------------------------------------------------------------------------------ properties


@PROPERTY
@given(DAYS)
def test_next_business_day_is_the_first_open_day_on_or_after(day: date) -> None:
    found = CAL.next_business_day(day)
    assert found >= day and CAL.is_business_day(found)
    assert CAL.business_days_between(day, found) == 0


@PROPERTY
@given(DAYS)
def test_previous_business_day_is_the_last_open_day_on_or_before(day: date) -> None:
    found = CAL.previous_business_day(day)
    assert found <= day and CAL.is_business_day(found)
    assert CAL.business_days_between(found + timedelta(days=1), day + timedelta(days=1)) == 0


@PROPERTY
@given(DAYS, st.integers(min_value=-60, max_value=60))
def test_add_business_days_undoes_itself_from_a_business_day(day: date, n: int) -> None:
    start = CAL.next_business_day(day)
    moved = CAL.add_business_days(start, n)
    assert CAL.is_business_day(moved)
    assert CAL.add_business_days(moved, -n) == start
    assert CAL.business_days_between(start, moved) == n


@PROPERTY
@given(DAYS, st.sampled_from(["previous", "next"]))
def test_adjust_keeps_open_days_and_moves_closed_ones(day: date, policy: str) -> None:
    moved = CAL.adjust(day, policy)  # type: ignore[arg-type]
    assert CAL.is_business_day(moved)
    assert (moved == day) is CAL.is_business_day(day)
    assert (moved <= day) if policy == "previous" else (moved >= day)


@PROPERTY
@given(DAYS)
def test_a_weekday_outside_holidays_and_year_end_is_open(day: date) -> None:
    closed_anyway = day in national_holidays(day.year) or (day.month, day.day) in {
        (12, 29),
        (12, 30),
        (12, 31),
        (1, 1),
        (1, 2),
        (1, 3),
    }
    assert CAL.is_business_day(day) is (day.weekday() < 5 and not closed_anyway)


@PROPERTY
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_today_is_the_tokyo_date_whatever_the_process_zone(naive_utc: datetime) -> None:
    now = naive_utc.replace(tzinfo=UTC)
    assert CAL.today(now) == (naive_utc + timedelta(hours=9)).date()
