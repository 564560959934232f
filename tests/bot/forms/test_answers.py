"""Answers to form questions: text, numbers, choices and yes/no, as staff really type them."""

from __future__ import annotations

import contextlib
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.forms.answers import (
    InvalidAnswer,
    Option,
    kanji_numeral,
    parse_choice,
    parse_multi_choice,
    parse_number,
    parse_text,
    parse_yes_no,
)
from bot.i18n import Catalog

ROOT = Path(__file__).resolve().parents[3]
PROPERTY = settings(max_examples=300, deadline=None)

FREQUENCY = (
    Option("daily", "毎日"),
    Option("weekly", "毎週", aliases=("週1", "週一回")),
    Option("monthly", "毎月"),
    Option("few_per_year", "年に数回"),
)
YES = ("はい", "うん", "yes", "y", "ok")
NO = ("いいえ", "no", "n")


def refused(reason: str, **values: object) -> dict[str, Any]:
    """The expected refusal, for a parametrize table."""
    return {"reason": reason, "values": values}


def assert_refused(call: Any, expected: dict[str, Any]) -> InvalidAnswer:
    with pytest.raises(InvalidAnswer) as caught:
        call()
    assert caught.value.reason == expected["reason"]
    for name, value in expected["values"].items():
        assert caught.value.values[name] == value, name
    return caught.value


# ------------------------------------------------------------------------------ InvalidAnswer


def test_invalid_answer_carries_reason_values_and_catalogue_key() -> None:
    error = InvalidAnswer("too_long", max=200, length=201)
    assert error.reason == "too_long"
    assert error.values == {"max": 200, "length": 201}
    assert error.key == "answers.invalid.too_long"


# ---------------------------------------------------------------------------------- parse_text


@pytest.mark.parametrize(
    ("typed", "kwargs", "stored"),
    [
        ("紙の申請書をExcelに手入力で転記している", {}, "紙の申請書をExcelに手入力で転記している"),
        ("  窓口予約を電話で受けている  ", {}, "窓口予約を電話で受けている"),
        ("\u3000会議資料を印刷配布\u3000", {}, "会議資料を印刷配布"),
        ("押印が３つ必要", {}, "押印が３つ必要"),  # no NFKC on what is stored
        ("ＡＢＣ\u3000ｶﾅ", {}, "ＡＢＣ\u3000ｶﾅ"),  # inner full-width space kept
        ("タブ\tあり", {}, "タブ\tあり"),
        ("1行目\n2行目", {"multiline": True}, "1行目\n2行目"),
        ("1行目\r\n2行目", {"multiline": True}, "1行目\n2行目"),
        ("最後に改行\n", {}, "最後に改行"),
        ("あ", {"min_length": 1}, "あ"),
        ("あいう", {"min_length": 3}, "あいう"),
        ("あ" * 200, {}, "あ" * 200),
        ("あ" * 10, {"max_length": 10}, "あ" * 10),
        ("", {"min_length": 0}, ""),
        ("\u3000 ", {"min_length": 0}, ""),
    ],
)
def test_text_accepted(typed: str, kwargs: dict[str, Any], stored: str) -> None:
    assert parse_text(typed, **kwargs) == stored


@pytest.mark.parametrize(
    ("typed", "kwargs", "expected"),
    [
        ("", {}, refused("empty")),
        ("   ", {}, refused("empty")),
        ("\u3000\u3000", {}, refused("empty")),
        ("\n\t", {"multiline": True}, refused("empty")),
        ("\u200b", {}, refused("empty")),  # zero-width space only: looks empty
        ("あい", {"min_length": 3}, refused("too_short", min=3, length=2)),
        ("\u3000あい\u3000", {"min_length": 3}, refused("too_short", min=3, length=2)),
        ("あ" * 201, {}, refused("too_long", max=200, length=201)),
        ("あ" * 11, {"max_length": 10}, refused("too_long", max=10, length=11)),
        ("1行目\n2行目", {}, refused("one_line")),
        ("1行目\r\n2行目", {}, refused("one_line")),
        ("1行目\r2行目", {}, refused("one_line")),
        ("1行目\u20282行目", {}, refused("one_line")),
        ("ベル\x07", {}, refused("control_chars")),
        ("ヌル\x00文字", {"multiline": True}, refused("control_chars")),
        ("改ページ\x0cあり", {"multiline": True}, refused("control_chars")),
        ("復帰\rだけ", {"multiline": True}, refused("control_chars")),
        ("エスケープ\x1b[31m", {}, refused("control_chars")),
        ("DEL\x7f", {}, refused("control_chars")),
        ("サロゲート\ud800", {}, refused("control_chars")),
    ],
)
def test_text_refused(typed: str, kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_refused(lambda: parse_text(typed, **kwargs), expected)


# -------------------------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    ("typed", "unit", "value"),
    [
        ("30", None, 30),
        ("３０", None, 30),
        (" ３０ ", None, 30),
        ("0", None, 0),
        ("007", None, 7),
        ("+5", None, 5),
        ("1,200", None, 1200),
        ("１，２００", None, 1200),
        ("1,234,567", None, 1234567),
        ("2.0", None, 2),
        ("30", "minutes", 30),
        ("30分", "minutes", 30),
        ("３０分", "minutes", 30),
        ("３０ 分", "minutes", 30),
        ("３０\u3000分", "minutes", 30),
        ("30分間", "minutes", 30),
        ("90分", "minutes", 90),
        ("1時間", "minutes", 60),
        ("１時間", "minutes", 60),
        ("1.5時間", "minutes", 90),
        ("１．５時間", "minutes", 90),
        ("1.1時間", "minutes", 66),  # exact, not 66.00000000000001
        ("0.25時間", "minutes", 15),
        ("1時間30分", "minutes", 90),
        ("１時間３０分", "minutes", 90),
        ("1 時間 30 分", "minutes", 90),
        ("2時間5分", "minutes", 125),
        ("1時間半", "minutes", 90),
        ("1時間0分", "minutes", 60),
        ("30min", "minutes", 30),
        ("30 minutes", "minutes", 30),
        ("1h", "minutes", 60),
        ("1.5 hours", "minutes", 90),
        ("1h30min", "minutes", 90),
        ("1 hour 30 minutes", "minutes", 90),
        ("約30分", "minutes", 30),
        ("30分くらい", "minutes", 30),
        ("だいたい1時間ぐらいです。", "minutes", 60),
        ("30分です", "minutes", 30),
        ("三十分", "minutes", 30),
        ("十分", "minutes", 10),
        ("一時間半", "minutes", 90),
        ("二時間十五分", "minutes", 135),
        ("5", "people", 5),
        ("5人", "people", 5),
        ("５名", "people", 5),
        ("５ 人", "people", 5),
        ("1,200人", "people", 1200),
        ("三人", "people", 3),
        ("12 people", "people", 12),
        ("約5人", "people", 5),
        ("3", "times", 3),
        ("3回", "times", 3),
        ("３回くらい", "times", 3),
        ("3 times", "times", 3),
    ],
)
def test_number_accepted(typed: str, unit: str | None, value: int) -> None:
    result = parse_number(typed, unit=unit)
    assert result == value
    assert type(result) is int


@pytest.mark.parametrize(
    ("typed", "kwargs", "value"),
    [
        ("2.5", {"integer": False}, 2.5),
        ("２．５", {"integer": False}, 2.5),
        ("30", {"integer": False}, 30.0),
        ("1.01時間", {"integer": False, "unit": "minutes"}, 60.6),
        ("-3", {"minimum": -5}, -3),
        ("-5", {"minimum": -5}, -5),
        ("1", {"minimum": 1}, 1),
        ("480", {"maximum": 480}, 480),
        ("8時間", {"maximum": 480, "unit": "minutes"}, 480),
        ("1", {"minimum": 1, "maximum": 1}, 1),
        ("0.5", {"minimum": 0.5, "integer": False}, 0.5),
    ],
)
def test_number_accepted_with_options(typed: str, kwargs: dict[str, Any], value: float) -> None:
    assert parse_number(typed, **kwargs) == pytest.approx(value)


def test_number_is_a_float_when_not_integer() -> None:
    assert type(parse_number("30", integer=False)) is float


@pytest.mark.parametrize(
    ("typed", "kwargs", "expected"),
    [
        ("", {}, refused("empty")),
        ("\u3000", {}, refused("empty")),
        ("たくさん", {}, refused("not_a_number")),
        ("abc", {}, refused("not_a_number")),
        ("分", {"unit": "minutes"}, refused("not_a_number")),
        ("1 200", {}, refused("not_a_number")),  # two numbers, not 1200
        ("1,20", {}, refused("not_a_number")),  # a decimal comma or a list?
        ("1,3", {}, refused("not_a_number")),
        ("12,00", {}, refused("not_a_number")),
        ("1.2.3", {}, refused("not_a_number")),
        (".5", {"integer": False}, refused("not_a_number")),
        ("3十", {}, refused("not_a_number")),
        ("1万", {}, refused("not_a_number")),
        ("二百五", {}, refused("not_a_number")),  # 250 in speech, 205 in writing
        ("二三人", {"unit": "people"}, refused("not_a_number")),  # two or three
        ("٣٠", {}, refused("not_a_number")),  # Arabic-Indic digits are not what staff type
        ("30分弱", {"unit": "minutes"}, refused("not_a_number")),
        ("1回30分", {"unit": "minutes"}, refused("wrong_unit_minutes", typed="回")),
        ("1.5時間30分", {"unit": "minutes"}, refused("not_a_number")),
        ("1時間90分", {"unit": "minutes"}, refused("not_a_number")),
        ("1.5時間半", {"unit": "minutes"}, refused("not_a_number")),
        ("1時間30", {"unit": "minutes"}, refused("not_a_number")),
        ("5人", {"unit": "minutes"}, refused("wrong_unit_minutes", typed="人")),
        ("30分", {"unit": "people"}, refused("wrong_unit_people", typed="分")),
        ("1時間", {"unit": "times"}, refused("wrong_unit_times", typed="時間")),
        ("1時間30分", {"unit": "people"}, refused("wrong_unit_people", typed="時間")),
        ("1時間半", {"unit": "people"}, refused("wrong_unit_people", typed="時間半")),
        ("3回", {"unit": "people"}, refused("wrong_unit_people", typed="回")),
        ("30分", {}, refused("wrong_unit", typed="分")),
        ("5件", {"unit": "times"}, refused("wrong_unit_times", typed="件")),
        ("3日", {"unit": "minutes"}, refused("wrong_unit_minutes", typed="日")),
        # a clock time?
        ("1時30分", {"unit": "minutes"}, refused("wrong_unit_minutes", typed="時")),
        ("25時間", {"unit": "minutes", "maximum": 1440}, refused("too_large_minutes", hours=24)),
        ("1441", {"unit": "minutes", "maximum": 1440}, refused("too_large_minutes", max=1440)),
        ("30〜60分", {"unit": "minutes"}, refused("number_range")),
        ("30～60", {}, refused("number_range")),
        ("30-60", {}, refused("number_range")),
        ("30分~1時間", {"unit": "minutes"}, refused("number_range")),
        ("30から60", {}, refused("number_range")),
        ("30分以上", {"unit": "minutes"}, refused("number_range")),
        ("5人以下", {"unit": "people"}, refused("number_range")),
        ("１０未満", {}, refused("number_range")),
        ("2.5", {}, refused("not_integer")),
        ("1.01時間", {"unit": "minutes"}, refused("not_integer")),
        ("-5", {}, refused("negative")),
        ("−5", {}, refused("negative")),
        ("－５分", {"unit": "minutes"}, refused("negative")),
        ("-1", {"minimum": 0}, refused("too_small", min=0)),
        ("0", {"minimum": 1}, refused("too_small", min=1)),
        ("-5", {"minimum": 1}, refused("too_small", min=1)),
        ("0.4", {"minimum": 0.5, "integer": False}, refused("too_small", min=0.5)),
        ("481", {"maximum": 480}, refused("too_large", max=480)),
        ("9時間", {"maximum": 480, "unit": "minutes"}, refused("too_large_minutes", hours=8)),
        ("2時間", {"maximum": 100, "unit": "minutes"}, refused("too_large_minutes", hours=1.7)),
        ("2", {"minimum": 1, "maximum": 1}, refused("too_large", max=1)),
        ("31", {"maximum": 30.0}, refused("too_large", max=30)),
        ("9" * 13, {}, refused("too_large", max=999_999_999_999)),
        ("9" * 5000, {"maximum": 100}, refused("too_large", max=100)),
    ],
)
def test_number_refused(typed: str, kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_refused(lambda: parse_number(typed, **kwargs), expected)


def test_number_with_an_unknown_unit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        parse_number("3", unit="kg")


@pytest.mark.parametrize(
    ("kanji", "value"),
    [
        ("〇", 0),
        ("一", 1),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("三十五", 35),
        ("百", 100),
        ("百二十", 120),
        ("千二百三十四", 1234),
        ("二千二十六", 2026),
        ("一万", 10_000),
        ("一万二千", 12_000),
        ("三十五万", 350_000),
        ("九千九百九十九万九千九百九十九", 99_999_999),
        ("二〇二六", 2026),
        ("一〇", 10),
    ],
)
def test_kanji_numerals(kanji: str, value: int) -> None:
    assert kanji_numeral(kanji) == value


@pytest.mark.parametrize(
    "kanji",
    [
        "",
        "万",
        "十十",
        "百千",
        "二三",
        "三四五",
        "〇五",
        "〇〇",
        "二〇十",
        "百五",
        "二千六",
        "一万五",
        "万万",
        "一万万",
        "三十a",
    ],
)
def test_kanji_numerals_refused(kanji: str) -> None:
    assert kanji_numeral(kanji) is None


@given(st.integers(min_value=0, max_value=10**9))
@PROPERTY
def test_every_whole_number_reads_back_half_and_full_width(number: int) -> None:
    full_width = str(number).translate(str.maketrans(string.digits, "０１２３４５６７８９"))
    assert parse_number(str(number)) == number
    assert parse_number(full_width) == number
    assert parse_number(f"{number:,}") == number
    assert parse_number(f"{full_width}分", unit="minutes") == number


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=59))
@PROPERTY
def test_hours_and_minutes_add_up(hours: int, minutes: int) -> None:
    assert parse_number(f"{hours}時間{minutes}分", unit="minutes") == hours * 60 + minutes


# -------------------------------------------------------------------------------- parse_choice


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("1", "daily"),
        ("2", "weekly"),
        ("２", "weekly"),
        ("2番", "weekly"),
        ("２番", "weekly"),
        ("2 番", "weekly"),
        ("2番目", "weekly"),
        ("②", "weekly"),
        ("4", "few_per_year"),
        ("毎週", "weekly"),
        (" 毎週 ", "weekly"),
        ("毎週。", "weekly"),
        ("weekly", "weekly"),
        ("WEEKLY", "weekly"),
        ("ｗｅｅｋｌｙ", "weekly"),
        ("週1", "weekly"),
        ("週１", "weekly"),
        ("週一回", "weekly"),
        ("年に数回", "few_per_year"),
        ("few_per_year", "few_per_year"),
    ],
)
def test_choice_accepted(typed: str, value: str) -> None:
    assert parse_choice(typed, FREQUENCY) == value


CHOICES = ("毎日", "毎週", "毎月", "年に数回")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", refused("empty")),
        ("\u3000", refused("empty")),
        ("0", refused("choice_out_of_range", count=4)),
        ("5", refused("choice_out_of_range", count=4)),
        ("５番", refused("choice_out_of_range", count=4)),
        ("9" * 5000, refused("choice_out_of_range", count=4)),
        ("毎", refused("not_a_choice", choices=CHOICES)),  # no guessing by prefix
        ("年", refused("not_a_choice", choices=CHOICES)),
        ("毎週です", refused("not_a_choice", choices=CHOICES)),
        ("1,2", refused("not_a_choice", choices=CHOICES)),
        ("一", refused("not_a_choice", choices=CHOICES)),
        ("2.5", refused("not_a_choice", choices=CHOICES)),
        ("-1", refused("not_a_choice", choices=CHOICES)),
    ],
)
def test_choice_refused(typed: str, expected: dict[str, Any]) -> None:
    assert_refused(lambda: parse_choice(typed, FREQUENCY), expected)


def test_choice_number_that_is_also_another_label_is_ambiguous() -> None:
    options = (Option("b", "2"), Option("a", "1"))
    error = assert_refused(lambda: parse_choice("1", options), refused("ambiguous_choice"))
    assert error.values["choices"] == ("2", "1")


def test_choice_number_that_names_its_own_option_is_fine() -> None:
    options = (Option("one", "1"), Option("two", "2"))
    assert parse_choice("2", options) == "two"


def test_choice_word_shared_by_two_options_is_ambiguous() -> None:
    options = (
        Option("paper", "ペーパーレス", aliases=("電子化",)),
        Option("ai", "AI", aliases=("電子化",)),
    )
    assert_refused(lambda: parse_choice("電子化", options), refused("ambiguous_choice"))


def test_choice_options_sharing_a_value_are_one_choice() -> None:
    """The engine may offer the Japanese and the English labels together."""
    options = (Option("weekly", "毎週"), Option("daily", "毎日"), Option("weekly", "Weekly"))
    assert parse_choice("weekly", options) == "weekly"
    assert parse_choice("3", options) == "weekly"
    assert parse_multi_choice("毎週, weekly, 2", options) == ["weekly", "daily"]


def test_choice_beyond_the_options_as_number_is_a_label_when_one_matches() -> None:
    options = (Option("a", "100"), Option("b", "その他"))
    assert parse_choice("100", options) == "a"


# -------------------------------------------------------------------------- parse_multi_choice


@pytest.mark.parametrize(
    ("typed", "kwargs", "values"),
    [
        ("1", {}, ["daily"]),
        ("1,3", {}, ["daily", "monthly"]),
        ("1, 3", {}, ["daily", "monthly"]),
        ("１，３", {}, ["daily", "monthly"]),
        ("1、3", {}, ["daily", "monthly"]),
        ("1 3", {}, ["daily", "monthly"]),
        ("１　３", {}, ["daily", "monthly"]),
        ("1と3", {}, ["daily", "monthly"]),
        ("1・3", {}, ["daily", "monthly"]),
        ("3,1", {}, ["daily", "monthly"]),  # option order, not typed order
        ("1,1,1", {}, ["daily"]),
        ("1と毎日", {}, ["daily"]),
        ("毎日と毎週", {}, ["daily", "weekly"]),
        ("毎月・週1", {}, ["weekly", "monthly"]),
        ("年に数回、1番", {}, ["daily", "few_per_year"]),
        ("2番と4番", {}, ["weekly", "few_per_year"]),
        ("1,3,", {}, ["daily", "monthly"]),
        ("1,2,3,4", {"max_count": 4}, ["daily", "weekly", "monthly", "few_per_year"]),
        ("1,2", {"min_count": 2}, ["daily", "weekly"]),
        ("", {"min_count": 0}, []),
    ],
)
def test_multi_choice_accepted(typed: str, kwargs: dict[str, Any], values: list[str]) -> None:
    assert parse_multi_choice(typed, FREQUENCY, **kwargs) == values


@pytest.mark.parametrize(
    ("typed", "kwargs", "expected"),
    [
        ("", {}, refused("empty")),
        ("、、", {}, refused("not_a_choice", choices=CHOICES)),
        ("1,5", {}, refused("choice_out_of_range", count=4)),
        ("13", {}, refused("choice_out_of_range", count=4)),
        ("1,毎年", {}, refused("not_a_choice", choices=CHOICES)),
        ("1;3", {}, refused("not_a_choice", choices=CHOICES)),
        ("毎日毎週", {}, refused("not_a_choice", choices=CHOICES)),
        ("1", {"min_count": 2}, refused("too_few_choices", min=2)),
        ("1,1", {"min_count": 2}, refused("too_few_choices", min=2)),
        ("1,2,3", {"max_count": 2}, refused("too_many_choices", max=2)),
    ],
)
def test_multi_choice_refused(typed: str, kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_refused(lambda: parse_multi_choice(typed, FREQUENCY, **kwargs), expected)


CHANNELS = (Option("counter", "窓口"), Option("phone", "電話"), Option("both", "窓口と電話"))


def test_multi_choice_label_containing_a_separator_can_be_read_two_ways() -> None:
    assert_refused(lambda: parse_multi_choice("窓口と電話", CHANNELS), refused("ambiguous_choice"))
    assert parse_multi_choice("3", CHANNELS) == ["both"]
    assert parse_multi_choice("窓口、電話", CHANNELS) == ["counter", "phone"]


def test_multi_choice_label_with_a_middle_dot_stays_whole() -> None:
    options = (Option("paperless", "ペーパーレス・電子化"), Option("chat", "庁内チャット"))
    assert parse_multi_choice("ペーパーレス・電子化と庁内チャット", options) == [
        "paperless",
        "chat",
    ]


# ------------------------------------------------------------------------------- parse_yes_no


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("はい", True),
        ("はい。", True),
        (" はい ", True),
        ("うん", True),
        ("yes", True),
        ("YES", True),
        ("ｙｅｓ", True),
        ("Y", True),
        ("OK", True),
        ("ok!", True),
        ("いいえ", False),
        ("いいえ。", False),
        ("No", False),
        ("Ｎ", False),
    ],
)
def test_yes_no_accepted(typed: str, answer: bool) -> None:
    assert parse_yes_no(typed, yes=YES, no=NO) is answer


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", refused("empty")),
        ("1", refused("not_yes_no", yes="はい", no="いいえ")),
        ("2", refused("not_yes_no")),
        ("はいはい", refused("not_yes_no")),
        ("はい?", refused("not_yes_no")),
        ("たぶん", refused("not_yes_no")),
        ("yesno", refused("not_yes_no")),
    ],
)
def test_yes_no_refused(typed: str, expected: dict[str, Any]) -> None:
    assert_refused(lambda: parse_yes_no(typed, yes=YES, no=NO), expected)


def test_yes_no_word_in_both_lists_is_refused_rather_than_guessed() -> None:
    assert_refused(lambda: parse_yes_no("ok", yes=["ok"], no=["ok"]), refused("not_yes_no"))


# ---------------------------------------------------------------------- never anything else


@given(st.text())
@PROPERTY
def test_text_parser_returns_or_refuses(typed: str) -> None:
    for multiline in (False, True):
        try:
            value = parse_text(typed, min_length=2, max_length=50, multiline=multiline)
        except InvalidAnswer:
            continue
        assert 2 <= len(value) <= 50
        assert value == value.strip()


@given(st.text(), st.sampled_from([None, "minutes", "people", "times"]), st.booleans())
@PROPERTY
def test_number_parser_returns_or_refuses(typed: str, unit: str | None, integer: bool) -> None:
    try:
        value = parse_number(typed, unit=unit, integer=integer, minimum=0, maximum=10_000)
    except InvalidAnswer:
        return
    assert 0 <= value <= 10_000
    assert isinstance(value, int if integer else float)


NUMBERISH = st.text(
    alphabet="0123456789０１２３４５６７８９,.，． 　-−+~〜分時間半人名回約くらい十百千万一二三"
)


@given(NUMBERISH, st.sampled_from([None, "minutes", "people", "times"]))
@PROPERTY
def test_number_parser_returns_or_refuses_numberish_text(typed: str, unit: str | None) -> None:
    with contextlib.suppress(InvalidAnswer):
        parse_number(typed, unit=unit)


CHOICEISH = st.text(alphabet="0123456789１２３番目毎日週月年に数回と、,・ 　weklyWEEKLY")


@given(st.one_of(st.text(), CHOICEISH))
@PROPERTY
def test_choice_parsers_return_or_refuse(typed: str) -> None:
    for options in (FREQUENCY, CHANNELS):
        with contextlib.suppress(InvalidAnswer):
            assert parse_choice(typed, options) in {option.value for option in options}
        try:
            values = parse_multi_choice(typed, options, max_count=3)
        except InvalidAnswer:
            continue
        assert 1 <= len(values) <= 3
        assert values == [option.value for option in options if option.value in values]


@given(st.text())
@PROPERTY
def test_yes_no_parser_returns_or_refuses(typed: str) -> None:
    with contextlib.suppress(InvalidAnswer):
        parse_yes_no(typed, yes=YES, no=NO)


# --------------------------------------------------------------------------------- catalogue

REASON_IN_SOURCE = re.compile(r'InvalidAnswer\(\s*"(\w+)"')
PLACEHOLDER = re.compile(r"{(\w+)}")


def raised_reasons() -> set[str]:
    sources = [ROOT / "bot" / "forms" / name for name in ("answers.py", "dates.py")]
    return {
        reason
        for path in sources
        for reason in REASON_IN_SOURCE.findall(path.read_text(encoding="utf-8"))
    }


def test_every_reason_has_a_japanese_and_an_english_message_with_the_same_placeholders() -> None:
    catalog = Catalog.load()
    reasons = raised_reasons()
    assert len(reasons) > 20, "the pattern no longer finds the reasons"
    for locale in ("ja", "en"):
        missing = {f"answers.invalid.{reason}" for reason in reasons} - catalog.keys(locale)
        assert missing == set(), locale
    for reason in reasons:
        key = f"answers.invalid.{reason}"
        ja, en = catalog.t("ja", key), catalog.t("en", key)
        assert set(PLACEHOLDER.findall(ja)) == set(PLACEHOLDER.findall(en)), reason


EVERY_REFUSAL = [
    lambda: parse_text(""),
    lambda: parse_text("a\nb"),
    lambda: parse_text("a\x07"),
    lambda: parse_text("a", min_length=2),
    lambda: parse_text("aaa", max_length=2),
    lambda: parse_number("x"),
    lambda: parse_number("5人", unit="minutes"),
    lambda: parse_number("30分", unit="people"),
    lambda: parse_number("1時間", unit="times"),
    lambda: parse_number("30分"),
    lambda: parse_number("1.5"),
    lambda: parse_number("-1"),
    lambda: parse_number("0", minimum=1),
    lambda: parse_number("2", maximum=1),
    lambda: parse_number("25時間", unit="minutes", maximum=1440),
    lambda: parse_number("1~2"),
    lambda: parse_choice("9", FREQUENCY),
    lambda: parse_choice("x", FREQUENCY),
    lambda: parse_choice("窓口と電話", (*CHANNELS, Option("x", "y", aliases=("窓口と電話",)))),
    lambda: parse_multi_choice("1", FREQUENCY, min_count=2),
    lambda: parse_multi_choice("1,2", FREQUENCY, max_count=1),
    lambda: parse_yes_no("x", yes=YES, no=NO),
]


@pytest.mark.parametrize("call", EVERY_REFUSAL)
@pytest.mark.parametrize("locale", ["ja", "en"])
def test_every_refusal_renders_completely(call: Any, locale: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        call()
    text = Catalog.load().t(locale, caught.value.key, **caught.value.values)
    assert text != caught.value.key, "no message in the catalogue"
    assert "{" not in text
    assert "}" not in text


def test_the_refusal_table_covers_every_reason_of_this_module() -> None:
    seen = set()
    for call in EVERY_REFUSAL:
        with pytest.raises(InvalidAnswer) as caught:
            call()
        seen.add(caught.value.reason)
    source = (ROOT / "bot" / "forms" / "answers.py").read_text(encoding="utf-8")
    assert seen == set(REASON_IN_SOURCE.findall(source))
