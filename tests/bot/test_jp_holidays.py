"""The national-holiday table agrees with the ``holidays`` package it was generated from."""

from __future__ import annotations

from datetime import date

import holidays

from bot import jp_holidays


def test_the_table_is_what_the_installed_package_computes() -> None:
    stale = [
        year
        for year in range(jp_holidays.FIRST_YEAR - 5, jp_holidays.LAST_YEAR + 6)
        if jp_holidays.in_year(year) != frozenset(holidays.country_holidays("JP", years=year))
    ]
    assert not stale, f"regenerate with `python -m bot.jp_holidays` (differs in {stale})"


def test_the_table_is_exactly_the_generated_text() -> None:
    assert jp_holidays.TABLE.removeprefix("\n") == jp_holidays.generate()


def test_a_year_outside_the_table_has_no_national_holiday() -> None:
    assert jp_holidays.in_year(1948) == frozenset() == jp_holidays.in_year(2100)
    assert date(2099, 1, 1) in jp_holidays.in_year(2099)
