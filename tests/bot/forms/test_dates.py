"""Dates as staff type them: western, Japanese era, month/day and 今日/明日, full-width too."""

from __future__ import annotations

import contextlib
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.forms.answers import InvalidAnswer
from bot.forms.dates import format_date_ja, parse_date, to_wareki
from bot.i18n import Catalog

ROOT = Path(__file__).resolve().parents[3]
PROPERTY = settings(max_examples=300, deadline=None)
TODAY = date(2026, 6, 15)  # a Monday
DEC_1 = date(2026, 12, 1)


def refused(reason: str, **values: object) -> dict[str, Any]:
    return {"reason": reason, "values": values}


def assert_refused(typed: str, expected: dict[str, Any], **kwargs: Any) -> InvalidAnswer:
    with pytest.raises(InvalidAnswer) as caught:
        parse_date(typed, today=kwargs.pop("today", TODAY), **kwargs)
    assert caught.value.reason == expected["reason"]
    for name, value in expected["values"].items():
        assert caught.value.values[name] == value, name
    return caught.value


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("2026-12-01", DEC_1),
        ("2026-12-1", DEC_1),
        ("2026/12/1", DEC_1),
        ("2026/12/01", DEC_1),
        ("2026.12.1", DEC_1),
        ("20261201", DEC_1),
        ("２０２６－１２－０１", DEC_1),
        ("２０２６／１２／１", DEC_1),
        ("２０２６．１２．１", DEC_1),
        ("２０２６１２０１", DEC_1),
        (" 2026-12-01\u3000", DEC_1),
        ("12/1", DEC_1),
        ("１２／１", DEC_1),
        ("12 / 1", DEC_1),
        ("12月1日", DEC_1),
        ("１２月１日", DEC_1),
        ("12 月 1 日", DEC_1),
        ("2026年12月1日", DEC_1),
        ("２０２６年１２月１日", DEC_1),
        ("2026 年 12 月 1 日", DEC_1),
        ("令和8年12月1日", DEC_1),
        ("令和８年１２月１日", DEC_1),
        ("令和08年12月01日", DEC_1),
        ("令和 8 年 12 月 1 日", DEC_1),
        ("㋿8年12月1日", DEC_1),
        ("R8.12.1", DEC_1),
        ("R8/12/1", DEC_1),
        ("R8-12-1", DEC_1),
        ("r8.12.1", DEC_1),
        ("Ｒ８．１２．１", DEC_1),
        ("R8年12月1日", DEC_1),
        ("令和8.12.1", DEC_1),
        ("令和八年十二月一日", DEC_1),
        ("二〇二六年十二月一日", DEC_1),
        ("十二月一日", DEC_1),
        ("2026年12月1日(火)", DEC_1),
        ("2026年12月1日（火）", DEC_1),
        ("12/1(火)", DEC_1),
        ("12/1 (火曜)", DEC_1),
        ("令和8年12月1日(火曜日)", DEC_1),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("R元.5.1", date(2019, 5, 1)),
        ("令和元年12月31日", date(2019, 12, 31)),
        ("令和2年1月1日", date(2020, 1, 1)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("H31.4.30", date(2019, 4, 30)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("㍻元年1月8日", date(1989, 1, 8)),
        ("平成30年12月28日", date(2018, 12, 28)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("S50.4.1", date(1975, 4, 1)),
        ("今日", TODAY),
        ("本日", TODAY),
        ("きょう", TODAY),
        ("明日", date(2026, 6, 16)),
        ("あした", date(2026, 6, 16)),
        ("明後日", date(2026, 6, 17)),
        ("あさって", date(2026, 6, 17)),
        ("昨日", date(2026, 6, 14)),
        ("一昨日", date(2026, 6, 13)),
        ("Tomorrow", date(2026, 6, 16)),
        ("今日(月)", TODAY),
        # leap days
        ("2028-02-29", date(2028, 2, 29)),
        ("2000/2/29", date(2000, 2, 29)),
        ("令和10年2月29日", date(2028, 2, 29)),
        ("平成28年2月29日", date(2016, 2, 29)),
    ],
)
def test_date_accepted(typed: str, day: date) -> None:
    assert parse_date(typed, today=TODAY) == day


def test_month_and_day_take_todays_year_without_moving_it_forward() -> None:
    december = date(2026, 12, 20)
    assert parse_date("1/10", today=december) == date(2026, 1, 10)
    assert parse_date("1月10日", today=december) == date(2026, 1, 10)
    assert parse_date("12/31", today=date(2027, 1, 2)) == date(2027, 12, 31)


def test_february_29_without_a_year_depends_on_todays_year() -> None:
    assert parse_date("2/29", today=date(2028, 1, 1)) == date(2028, 2, 29)
    assert_refused("2/29", refused("no_such_date", year=2026, month=2, day=29))


def test_relative_days_cross_months_and_years() -> None:
    assert parse_date("明日", today=date(2026, 12, 31)) == date(2027, 1, 1)
    assert parse_date("昨日", today=date(2028, 3, 1)) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", refused("empty")),
        ("\u3000", refused("empty")),
        ("いつか", refused("not_a_date")),
        ("来週", refused("not_a_date")),
        ("12月", refused("not_a_date")),
        ("1日", refused("not_a_date")),
        ("2026年12月1", refused("not_a_date")),
        ("2026 12 1", refused("not_a_date")),
        ("2026/12-1", refused("not_a_date")),  # separators must agree
        ("26/12/1", refused("not_a_date")),  # which is the year?
        ("26年12月1日", refused("not_a_date")),  # 2026 or 令和26?
        ("261201", refused("not_a_date")),
        ("1201", refused("not_a_date")),
        ("12.1", refused("not_a_date")),  # a decimal?
        ("12-1", refused("not_a_date")),  # a range?
        ("2026-12-01T10:00", refused("not_a_date")),
        ("令和年12月1日", refused("not_a_date")),
        ("令和100年1月1日", refused("not_a_date")),
        ("大正10年1月1日", refused("not_a_date")),
        ("R8.12", refused("not_a_date")),
        ("十二月二三日", refused("not_a_date")),  # 二三 is "two or three"
        ("2026-12-01(x)", refused("not_a_date")),
        ("2026-02-30", refused("no_such_date", year=2026, month=2, day=30)),
        ("2/30", refused("no_such_date", year=2026, month=2, day=30)),
        ("2月30日", refused("no_such_date", year=2026, month=2, day=30)),
        ("13/1", refused("no_such_date", year=2026, month=13, day=1)),
        ("0/1", refused("no_such_date", year=2026, month=0, day=1)),
        ("4/31", refused("no_such_date", year=2026, month=4, day=31)),
        ("2026-12-00", refused("no_such_date", year=2026, month=12, day=0)),
        ("20261301", refused("no_such_date", year=2026, month=13, day=1)),
        ("0000-01-01", refused("no_such_date", year=0, month=1, day=1)),
        ("2026-02-29", refused("no_such_date", year=2026, month=2, day=29)),
        ("1900-02-29", refused("no_such_date", year=1900, month=2, day=29)),
        ("令和8年2月29日", refused("no_such_date", year=2026, month=2, day=29)),
        ("平成31年2月29日", refused("no_such_date", year=2019, month=2, day=29)),
        # era boundaries
        ("令和元年4月30日", refused("era_out_of_range", era="令和", date="2019-04-30")),
        ("令和元年1月1日", refused("era_out_of_range", era="令和", date="2019-01-01")),
        ("R1.4.30", refused("era_out_of_range", era="令和", date="2019-04-30")),
        ("令和0年12月1日", refused("era_out_of_range", era="令和", date="2018-12-01")),
        ("平成31年5月1日", refused("era_out_of_range", era="平成", date="2019-05-01")),
        ("平成32年1月1日", refused("era_out_of_range", era="平成", date="2020-01-01")),
        ("H31.5.1", refused("era_out_of_range", era="平成", date="2019-05-01")),
        ("平成元年1月7日", refused("era_out_of_range", era="平成", date="1989-01-07")),
        ("昭和64年1月8日", refused("era_out_of_range", era="昭和", date="1989-01-08")),
        ("昭和元年12月24日", refused("era_out_of_range", era="昭和", date="1926-12-24")),
        # a weekday that does not match the date: which one did they mean?
        ("2026年12月1日(月)", refused("wrong_weekday", date="2026-12-01")),
        ("12/1(水曜日)", refused("wrong_weekday", date="2026-12-01")),
        ("明日(月)", refused("wrong_weekday", date="2026-06-16")),
    ],
)
def test_date_refused(typed: str, expected: dict[str, Any]) -> None:
    assert_refused(typed, expected)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-06-14", refused("date_too_early", date="2026-06-14", earliest="2026-06-15")),
        ("昨日", refused("date_too_early", date="2026-06-14", earliest="2026-06-15")),
        ("1/10", refused("date_too_early", date="2026-01-10", earliest="2026-06-15")),
        ("2027-06-16", refused("date_too_late", date="2027-06-16", latest="2027-06-15")),
    ],
)
def test_date_outside_the_bounds_is_refused(typed: str, expected: dict[str, Any]) -> None:
    assert_refused(typed, expected, earliest=TODAY, latest=date(2027, 6, 15))


@pytest.mark.parametrize("typed", ["今日", "2026-06-15", "2027-06-15", "R9.6.15"])
def test_date_on_the_bounds_is_accepted(typed: str) -> None:
    day = parse_date(typed, today=TODAY, earliest=TODAY, latest=date(2027, 6, 15))
    assert TODAY <= day <= date(2027, 6, 15)


def test_relative_day_past_the_calendar_is_not_a_date() -> None:
    assert_refused("明日", refused("not_a_date"), today=date.max)
    assert_refused("昨日", refused("not_a_date"), today=date.min)


@pytest.mark.parametrize(
    ("day", "shown"),
    [
        (DEC_1, "2026年12月1日(火)"),
        (date(2026, 6, 15), "2026年6月15日(月)"),
        (date(2026, 6, 20), "2026年6月20日(土)"),
        (date(2026, 6, 21), "2026年6月21日(日)"),
        (date(2028, 2, 29), "2028年2月29日(火)"),
    ],
)
def test_format_date_ja(day: date, shown: str) -> None:
    assert format_date_ja(day) == shown


@pytest.mark.parametrize(
    ("day", "wareki"),
    [
        (DEC_1, "令和8年12月1日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "1926年12月24日"),
    ],
)
def test_to_wareki(day: date, wareki: str) -> None:
    assert to_wareki(day) == wareki


@given(st.dates(min_value=date(1000, 1, 1)))
@PROPERTY
def test_every_shown_date_reads_back(day: date) -> None:
    assert parse_date(format_date_ja(day), today=TODAY) == day
    assert parse_date(day.isoformat(), today=TODAY) == day
    assert parse_date(day.strftime("%Y%m%d"), today=TODAY) == day


@given(st.dates(min_value=date(1926, 12, 25), max_value=date(2117, 12, 31)))
@PROPERTY
def test_every_wareki_reads_back(day: date) -> None:
    assert parse_date(to_wareki(day), today=TODAY) == day


@given(st.text(), st.dates())
@PROPERTY
def test_date_parser_returns_or_refuses(typed: str, today: date) -> None:
    with contextlib.suppress(InvalidAnswer):
        parse_date(typed, today=today, earliest=date(2000, 1, 1), latest=date(2100, 1, 1))


DATEISH = st.text(
    alphabet="0123456789０１２３４５６７８９/-.年月日元令和平成昭和RHS()火曜今明後昨 一二十〇"
)


@given(DATEISH, st.dates())
@PROPERTY
def test_date_parser_returns_or_refuses_dateish_text(typed: str, today: date) -> None:
    with contextlib.suppress(InvalidAnswer):
        parse_date(typed, today=today)


EVERY_REFUSAL = [
    "",
    "いつか",
    "2/30",
    "令和元年4月30日",
    "2026年12月1日(月)",
    "2000-01-01",
    "2200-01-01",
]


@pytest.mark.parametrize("typed", EVERY_REFUSAL)
@pytest.mark.parametrize("locale", ["ja", "en"])
def test_every_refusal_renders_completely(typed: str, locale: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_date(typed, today=TODAY, earliest=date(2026, 1, 1), latest=date(2100, 1, 1))
    text = Catalog.load().t(locale, caught.value.key, **caught.value.values)
    assert text != caught.value.key, "no message in the catalogue"
    assert "{" not in text
    assert "}" not in text


def test_the_refusal_table_covers_every_reason_of_this_module() -> None:
    seen = set()
    for typed in EVERY_REFUSAL:
        with pytest.raises(InvalidAnswer) as caught:
            parse_date(typed, today=TODAY, earliest=date(2026, 1, 1), latest=date(2100, 1, 1))
        seen.add(caught.value.reason)
    source = (ROOT / "bot" / "forms" / "dates.py").read_text(encoding="utf-8")
    assert seen == set(re.findall(r'InvalidAnswer\(\s*"(\w+)"', source))
