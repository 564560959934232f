"""Reading a date as staff write it: 2026-12-01, 12/1, 令和8年12月1日, R8.12.1 or 明日.

Municipal documents date things in the Japanese era, so an answer copied from one
(令和八年十二月一日(火)) must work as well as a typed 12/1. A date that does not exist, or an
era year outside its era, is refused rather than rolled over.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from bot.forms.answers import KANJI_NUMERAL_CHARS, InvalidAnswer, kanji_numeral
from bot.text import fold

__all__ = ["ERAS", "Era", "format_date_ja", "parse_date", "to_wareki"]


@dataclass(frozen=True, slots=True)
class Era:
    """A Japanese era: its first year is 元年, and it ends the day before the next begins."""

    name: str
    letter: str  # as folded: R8.12.1 → "r"
    first: datetime.date
    last: datetime.date | None = None

    def western_year(self, year_of_era: int) -> int:
        return self.first.year + year_of_era - 1

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, datetime.date):
            return False
        return self.first <= day and (self.last is None or day <= self.last)


ERAS = (
    Era("令和", "r", datetime.date(2019, 5, 1)),
    Era("平成", "h", datetime.date(1989, 1, 8), datetime.date(2019, 4, 30)),
    Era("昭和", "s", datetime.date(1926, 12, 25), datetime.date(1989, 1, 7)),
)
_ERA_BY_NAME = {key: era for era in ERAS for key in (era.name, era.letter)}

WEEKDAYS_JA = "月火水木金土日"  # date.weekday() order

_RELATIVE_DAYS = {
    **dict.fromkeys(["今日", "本日", "きょう", "today"], 0),
    **dict.fromkeys(["明日", "あした", "あす", "tomorrow"], 1),
    **dict.fromkeys(["明後日", "あさって"], 2),
    **dict.fromkeys(["昨日", "きのう", "yesterday"], -1),
    **dict.fromkeys(["一昨日", "おととい"], -2),
}

_LONE_SPACE = re.compile(r" (?![0-9])|(?<![0-9]) ")  # "2026 12 1" keeps its spaces and fails
_WEEKDAY = re.compile(r"\(([月火水木金土日])(?:曜日?)?\)$")
_KANJI_BEFORE_UNIT = re.compile(rf"[{KANJI_NUMERAL_CHARS}]+(?=[年月日])")
_ERA_NAMES = "|".join(_ERA_BY_NAME)
_ERA_YEAR = rf"(?P<era>{_ERA_NAMES})(?P<era_year>元|[0-9]{{1,2}})"
_M, _D = r"(?P<m>[0-9]{1,2})", r"(?P<d>[0-9]{1,2})"
_FORMS = tuple(
    re.compile(form)
    for form in (
        rf"(?P<y>[0-9]{{4}})(?P<sep>[-/.]){_M}(?P=sep){_D}",
        r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})",
        rf"(?P<y>[0-9]{{4}})年{_M}月{_D}日",
        rf"{_M}/{_D}",
        rf"{_M}月{_D}日",
        rf"{_ERA_YEAR}年{_M}月{_D}日",
        rf"{_ERA_YEAR}(?P<sep>[-/.]){_M}(?P=sep){_D}",
    )
)


def parse_date(
    text: str,
    *,
    today: datetime.date,
    earliest: datetime.date | None = None,
    latest: datetime.date | None = None,
) -> datetime.date:
    """The date typed; a date without a year (12/1, 12月1日) is in ``today``'s year.

    The year is never moved forward: on 20 December, "1/10" is 10 January of this year,
    which ``earliest=today`` then refuses with the date shown, so the user can add the year.
    """
    compact = _LONE_SPACE.sub("", fold(text))
    if not compact:
        raise InvalidAnswer("empty")
    weekday = _WEEKDAY.search(compact)
    if weekday:
        compact = compact[: weekday.start()]
    day = _relative(compact, today) or _written(compact, today)
    if weekday and WEEKDAYS_JA[day.weekday()] != weekday.group(1):
        raise InvalidAnswer("wrong_weekday", date=day.isoformat())
    if earliest is not None and day < earliest:
        raise InvalidAnswer("date_too_early", date=day.isoformat(), earliest=earliest.isoformat())
    if latest is not None and day > latest:
        raise InvalidAnswer("date_too_late", date=day.isoformat(), latest=latest.isoformat())
    return day


def _relative(compact: str, today: datetime.date) -> datetime.date | None:
    offset = _RELATIVE_DAYS.get(compact)
    if offset is None:
        return None
    try:
        return today + datetime.timedelta(days=offset)
    except OverflowError:
        raise InvalidAnswer("not_a_date") from None


def _written(compact: str, today: datetime.date) -> datetime.date:
    """A date written out in one of ``_FORMS``, kanji numerals (十二月) included."""
    compact = _KANJI_BEFORE_UNIT.sub(_kanji_to_digits, compact)
    for form in _FORMS:
        match = form.fullmatch(compact)
        if match:
            return _from_match(match.groupdict(), today)
    raise InvalidAnswer("not_a_date")


def _kanji_to_digits(match: re.Match[str]) -> str:
    value = kanji_numeral(match.group())
    return match.group() if value is None else str(value)


def _from_match(groups: dict[str, str | None], today: datetime.date) -> datetime.date:
    month, day = int(groups["m"] or 0), int(groups["d"] or 0)
    era_name, era_year = groups.get("era"), groups.get("era_year")
    if era_name is None or era_year is None:
        year = today.year if groups.get("y") is None else int(groups["y"] or 0)
        return _date(year, month, day)
    era = _ERA_BY_NAME[era_name]
    found = _date(era.western_year(1 if era_year == "元" else int(era_year)), month, day)
    if found not in era:
        raise InvalidAnswer("era_out_of_range", era=era.name, date=found.isoformat())
    return found


def _date(year: int, month: int, day: int) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise InvalidAnswer("no_such_date", year=year, month=month, day=day) from None


def format_date_ja(d: datetime.date) -> str:
    """``2026年12月1日(火)``: how dates are shown to staff."""
    return f"{d.year}年{d.month}月{d.day}日({WEEKDAYS_JA[d.weekday()]})"


def to_wareki(d: datetime.date) -> str:
    """``令和8年12月1日`` (元年 for an era's first year); before 昭和, the western year."""
    for era in ERAS:
        if d in era:
            year = d.year - era.first.year + 1
            return f"{era.name}{'元' if year == 1 else year}年{d.month}月{d.day}日"
    return f"{d.year}年{d.month}月{d.day}日"
