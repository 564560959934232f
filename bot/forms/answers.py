"""Reading what staff type in answer to a form question: text, numbers, choices, yes/no.

Staff type full-width digits and spaces as often as half-width ones, so every parser folds with
NFKC before it compares. Nothing is silently coerced: an answer that could mean two things, or
that does not fit the question, is refused with an ``InvalidAnswer`` whose reason is a catalogue
key under ``answers.invalid`` (see config/locales/ja.answers.toml) that tells them what to type.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from bot.text import fold, normalize

__all__ = [
    "KANJI_NUMERAL_CHARS",
    "UNITS",
    "InvalidAnswer",
    "Option",
    "kanji_numeral",
    "parse_choice",
    "parse_multi_choice",
    "parse_number",
    "parse_text",
    "parse_yes_no",
]


class InvalidAnswer(Exception):
    """Why an answer was refused: a catalogue key under answers.invalid.* and its values."""

    def __init__(self, reason: str, **values: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values

    @property
    def key(self) -> str:
        """The catalogue key of the message to show, e.g. ``answers.invalid.too_long``."""
        return f"answers.invalid.{self.reason}"


@dataclass(frozen=True, slots=True)
class Option:
    """One answer a choice question offers: ``value`` is stored, ``label`` is shown."""

    value: str
    label: str
    aliases: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------- free text

# Characters that end a line for str.splitlines(): a single-line answer must contain none.
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def parse_text(
    text: str, *, min_length: int = 1, max_length: int = 200, multiline: bool = False
) -> str:
    """The answer without surrounding whitespace; the inside is kept exactly as typed.

    ``min_length=0`` lets an empty answer through as "". Windows clients send CRLF, which is
    stored as a plain newline.
    """
    value = text.replace("\r\n", "\n").strip()
    if _is_blank(value):
        if min_length <= 0:
            return ""
        raise InvalidAnswer("empty")
    if not multiline and any(char in _LINE_BREAKS for char in value):
        raise InvalidAnswer("one_line")
    if any(_is_control(char) for char in value):
        raise InvalidAnswer("control_chars")
    if len(value) < min_length:
        raise InvalidAnswer("too_short", min=min_length, length=len(value))
    if len(value) > max_length:
        raise InvalidAnswer("too_long", max=max_length, length=len(value))
    return value


def _is_blank(value: str) -> bool:
    # Zero-width spaces (category Cf) are invisible: an answer of only those looks empty.
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in value)


def _is_control(char: str) -> bool:
    # Lone surrogates (Cs) can arrive through JSON and cannot be stored as UTF-8.
    return char not in "\n\t" and unicodedata.category(char) in ("Cc", "Cs")


# ------------------------------------------------------------------------------ kanji numerals

_KANJI_DIGITS = {char: n for n, char in enumerate("〇一二三四五六七八九")}
_KANJI_POWERS = {"十": 10, "百": 100, "千": 1000}
KANJI_NUMERAL_CHARS = "〇一二三四五六七八九十百千万"


def kanji_numeral(text: str) -> int | None:
    """The value of ``三十``, ``二千二十六``, ``一万二千`` or ``二〇二六``; None if not a clear one.

    A digit straight after 百, 千 or 万 (``二百五``) is refused: in speech it often means 250,
    in writing 205. So is ``二三`` (two or three).
    """
    if not text or any(char not in KANJI_NUMERAL_CHARS for char in text):
        return None
    if len(text) == 1 and text in _KANJI_DIGITS:
        return _KANJI_DIGITS[text]
    if all(char in _KANJI_DIGITS for char in text):
        # Digit by digit only with a 〇 in it (二〇二六): 二三 is "two or three", not 23.
        if "〇" not in text or text[0] == "〇":
            return None
        return int("".join(str(_KANJI_DIGITS[char]) for char in text))
    head, man, tail = text.partition("万")
    if not man:
        return _kanji_below_man(text)
    high = _kanji_below_man(head)
    low = _kanji_below_man(tail) if tail else 0
    if high is None or low is None or high == 0 or tail in _KANJI_DIGITS:
        return None  # also 一万五: 15,000 in speech, 10,005 in writing
    return high * 10_000 + low


def _kanji_below_man(text: str) -> int | None:
    """A traditional kanji numeral below 10,000 (``千二百三十四``)."""
    total, pending, last_power = 0, None, 10_000
    for char in text:
        if char in _KANJI_DIGITS:
            if pending is not None or char == "〇":
                return None
            pending = _KANJI_DIGITS[char]
        elif char in _KANJI_POWERS:
            power = _KANJI_POWERS[char]
            if power >= last_power:
                return None
            total += (1 if pending is None else pending) * power
            pending, last_power = None, power
        else:
            return None
    if pending is not None and last_power in (100, 1000):
        return None
    return total + (pending or 0)


# ------------------------------------------------------------------------------------ numbers

UNITS = ("minutes", "people", "times")
_LARGEST = 10**12 - 1  # no count or duration in a report comes near this; guards float()

# Each word the user may put after the number: which unit it belongs to and its factor.
_UNIT_WORDS: dict[str, tuple[str, int]] = {
    **dict.fromkeys(["分", "分間", "min", "mins", "minute", "minutes"], ("minutes", 1)),
    **dict.fromkeys(["時間", "h", "hr", "hrs", "hour", "hours"], ("minutes", 60)),
    **dict.fromkeys(["人", "名", "person", "persons", "people"], ("people", 1)),
    **dict.fromkeys(["回", "times"], ("times", 1)),
}
_HOURS = frozenset(word for word, (_, factor) in _UNIT_WORDS.items() if factor == 60)
_MINUTES = frozenset(word for word, unit in _UNIT_WORDS.items() if unit == ("minutes", 1))
_HOURS_AND_A_HALF = "時間半"
# Counters that are clearly a unit, just not one any question here asks for.
_OTHER_UNITS = frozenset(
    {
        *("時", "秒", "秒間", "日", "日間", "週", "週間", "月", "ヶ月", "か月", "ケ月", "ヵ月"),
        *("ヶ月間", "か月間", "年", "年間", "件", "個", "枚", "円", "台", "部", "本", "歳"),
        *("割", "%", "度", "組", "課", "人日", "人月", "yen"),
        *("day", "days", "week", "weeks", "month", "months", "year", "years"),
    }
)
_HEDGE_PREFIXES = ("約", "およそ", "大体", "だいたい", "概ね", "おおむね")
_HEDGE_SUFFIXES = ("くらい", "ぐらい", "程度", "ほど", "前後")  # not 位: 1位 is a rank
_BOUND_SUFFIXES = ("以上", "以下", "未満", "以内", "超", "超え", "まで", "から", "より")
_RANGE_MARKERS = ("~", "〜", "-", "−", "–", "—", "から")
_NUMBER = re.compile(rf"([0-9][0-9,]*(?:\.[0-9]+)?|[{KANJI_NUMERAL_CHARS}]+)")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_LONE_SPACE = re.compile(r" (?![0-9])|(?<![0-9]) ")


def parse_number(
    text: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    unit: str | None = None,
    integer: bool = True,
) -> int | float:
    """The number typed, in ``unit`` ("minutes" takes 1時間30分 too); int when ``integer``.

    Hedges such as 約 or くらい are allowed (an estimate is what the question asks for);
    a range (30〜60) or a bound (30分以上) is refused, because we would have to pick a value.
    """
    if unit is not None and unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
    compact = _compact(text)
    if not compact:
        raise InvalidAnswer("empty")
    value = _quantity(compact, unit, maximum)
    if unit == "minutes" and maximum is not None and value > maximum:
        # 「25時間」: say the bound in hours too, as the question lets people answer in hours.
        hours = _plain(round(maximum / 60, 1))  # 1440 → 24, 100 → 1.7
        raise InvalidAnswer("too_large_minutes", max=_plain(maximum), hours=hours)
    return _in_range(value, minimum=minimum, maximum=maximum, integer=integer)


def _compact(text: str) -> str:
    """Folded text with spaces removed, except one between two digits (``1 200`` stays odd)."""
    return _LONE_SPACE.sub("", fold(text))


def _strip_hedges(text: str) -> str:
    """``約30分くらいです。`` → ``30分``: the words around an estimate, not the estimate."""
    text = text.rstrip("。.!")
    text = text.removesuffix("です")
    for prefix in _HEDGE_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    for suffix in _HEDGE_SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def _quantity(text: str, unit: str | None, maximum: float | None) -> Fraction:
    text = _strip_hedges(text)
    if text.endswith(_BOUND_SUFFIXES):
        raise InvalidAnswer("number_range")
    parts = _NUMBER.split(text)
    words, numbers = parts[0::2], parts[1::2]
    if not numbers:
        raise InvalidAnswer("not_a_number")
    sign = {"": 1, "+": 1, "-": -1, "−": -1}.get(words[0])
    if sign is None:
        raise InvalidAnswer("not_a_number")
    if len(numbers) == 1:
        return sign * _with_unit(_amount(numbers[0], maximum), words[1], unit)
    if any(marker in word for word in words[1:-1] for marker in _RANGE_MARKERS):
        raise InvalidAnswer("number_range")
    for word in words[1:]:
        _check_unit(word, unit)
    if len(numbers) == 2 and words[1] in _HOURS and words[2] in _MINUTES and unit == "minutes":
        hours, minutes = _amount(numbers[0], maximum), _amount(numbers[1], maximum)
        if hours.denominator == 1 and minutes < 60:
            return sign * (hours * 60 + minutes)
    raise InvalidAnswer("not_a_number")


def _amount(token: str, maximum: float | None) -> Fraction:
    """The value of one number as typed: ``1,200``, ``1.5``, ``三十``."""
    if token[0] in KANJI_NUMERAL_CHARS:
        value = kanji_numeral(token)
        if value is None:
            raise InvalidAnswer("not_a_number")
        amount = Fraction(value)
    else:
        if "," in token and not _GROUPED.fullmatch(token):
            raise InvalidAnswer("not_a_number")  # 1,20 or 1,3: a list or a decimal comma
        # Decimal rather than float: 1.1時間 must be exactly 66 minutes.
        amount = Fraction(Decimal(token.replace(",", "")))
    if amount > _LARGEST:
        raise InvalidAnswer("too_large", max=_plain(_LARGEST if maximum is None else maximum))
    return amount


def _check_unit(word: str, unit: str | None) -> None:
    """Refuse a word that is a unit, but not the one the question asks for."""
    known = _UNIT_WORDS.get(word)
    if word == _HOURS_AND_A_HALF:
        known = ("minutes", 60)
    if (known is not None and known[0] != unit) or word in _OTHER_UNITS:
        raise _wrong_unit(word, unit)


def _wrong_unit(word: str, unit: str | None) -> InvalidAnswer:
    """A refusal that says which unit the question takes (「分か時間で」, not 「数字だけで」)."""
    if unit == "minutes":
        return InvalidAnswer("wrong_unit_minutes", typed=word)
    if unit == "people":
        return InvalidAnswer("wrong_unit_people", typed=word)
    if unit == "times":
        return InvalidAnswer("wrong_unit_times", typed=word)
    return InvalidAnswer("wrong_unit", typed=word)


def _with_unit(amount: Fraction, word: str, unit: str | None) -> Fraction:
    if not word:
        return amount
    _check_unit(word, unit)
    if word == _HOURS_AND_A_HALF and amount.denominator == 1:
        return amount * 60 + 30
    if word in _UNIT_WORDS:
        return amount * _UNIT_WORDS[word][1]
    raise InvalidAnswer("not_a_number")


def _in_range(
    value: Fraction, *, minimum: float | None, maximum: float | None, integer: bool
) -> int | float:
    if value < 0 and minimum is None:
        raise InvalidAnswer("negative")
    if integer and value.denominator != 1:
        raise InvalidAnswer("not_integer")
    if minimum is not None and value < minimum:
        raise InvalidAnswer("too_small", min=_plain(minimum))
    if maximum is not None and value > maximum:
        raise InvalidAnswer("too_large", max=_plain(maximum))
    return int(value) if integer else float(value)


def _plain(number: float) -> int | float:
    """``30`` rather than ``30.0`` in a message."""
    return int(number) if float(number).is_integer() else number


# ------------------------------------------------------------------------------------ choices

_CHOICE_NUMBER = re.compile(r"([0-9]+)(?: ?番目?)?")
_SEPARATORS = frozenset("、,・と ")


def _key(text: str) -> str:
    """How an answer or a label is compared: folded, without a closing 。 or ! ("はい。")."""
    return fold(text).rstrip("。.! ")


def _names(option: Option) -> set[str]:
    return {_key(name) for name in (option.label, option.value, *option.aliases)} - {""}


def _choice_number(match: re.Match[str]) -> int:
    digits = match.group(1).lstrip("0") or "0"
    return int(digits) if len(digits) <= 6 else 10**6  # int() refuses thousands of digits


def _labels(options: Sequence[Option]) -> tuple[str, ...]:
    """The labels to list in a refusal: the catalogue joins them in the reader's language."""
    return tuple(option.label for option in options)


def parse_choice(text: str, options: Sequence[Option]) -> str:
    """The value of the one option chosen by its number (2, ２, 2番), label, value or alias.

    A number that is also another option's label is refused as ambiguous rather than guessed.
    """
    key = _key(text)
    if not key:
        raise InvalidAnswer("empty")
    # Values, not options: two options (say a Japanese and an English label) may share one.
    chosen = {option.value for option in options if key in _names(option)}
    numbered = _CHOICE_NUMBER.fullmatch(key)
    if numbered:
        number = _choice_number(numbered)
        if 1 <= number <= len(options):
            chosen.add(options[number - 1].value)
        elif not chosen:
            raise InvalidAnswer("choice_out_of_range", count=len(options))
    if len(chosen) > 1:
        raise InvalidAnswer("ambiguous_choice", choices=_labels(options))
    if not chosen:
        raise InvalidAnswer("not_a_choice", choices=_labels(options))
    return chosen.pop()


_OUT_OF_RANGE = -1  # stands for a number with no option, so it can be reported as such


def parse_multi_choice(
    text: str, options: Sequence[Option], *, min_count: int = 1, max_count: int | None = None
) -> list[str]:
    """The values chosen, in option order, from numbers and labels separated by 、 , space と ・.

    A label may itself contain a separator (窓口と電話); if the answer can be read two ways
    it is refused as ambiguous.
    """
    key = _key(text)
    if not key and min_count <= 0:
        return []
    if not key:
        raise InvalidAnswer("empty")
    readings = _readings(key, options)
    # An empty reading is an answer of separators only: no choice at all.
    valid = {
        frozenset(options[index].value for index in reading)
        for reading in readings
        if reading and _OUT_OF_RANGE not in reading
    }
    if not valid and any(_OUT_OF_RANGE in reading for reading in readings):
        raise InvalidAnswer("choice_out_of_range", count=len(options))
    if not valid:
        raise InvalidAnswer("not_a_choice", choices=_labels(options))
    if len(valid) > 1:
        raise InvalidAnswer("ambiguous_choice", choices=_labels(options))
    chosen = valid.pop()
    values = list(dict.fromkeys(option.value for option in options if option.value in chosen))
    if len(values) < min_count:
        raise InvalidAnswer("too_few_choices", min=min_count)
    if max_count is not None and len(values) > max_count:
        raise InvalidAnswer("too_many_choices", max=max_count)
    return values


def _readings(key: str, options: Sequence[Option]) -> set[frozenset[int]]:
    """Every way to cut ``key`` into choices and separators, each as a set of option indexes.

    Built from the end backwards (no recursion), so a long answer cannot exhaust the stack.
    """
    names = [(name, index) for index, option in enumerate(options) for name in _names(option)]
    after: list[set[frozenset[int]]] = [set() for _ in range(len(key) + 1)]
    after[len(key)] = {frozenset()}
    for start in range(len(key) - 1, -1, -1):
        if key[start] in _SEPARATORS:
            after[start] = set(after[start + 1])
        for end, index in _tokens_at(key, start, names, len(options)):
            if end == len(key) or key[end] in _SEPARATORS:
                after[start] |= {rest | {index} for rest in after[end]}
    return after[0]


def _tokens_at(
    key: str, start: int, names: Iterable[tuple[str, int]], count: int
) -> list[tuple[int, int]]:
    """(end, option index) for each choice that could start at ``start``."""
    found = [(start + len(name), index) for name, index in names if key.startswith(name, start)]
    numbered = _CHOICE_NUMBER.match(key, start)
    if numbered:
        number = _choice_number(numbered)
        found.append((numbered.end(), number - 1 if 1 <= number <= count else _OUT_OF_RANGE))
    return found


# ------------------------------------------------------------------------------------- yes/no


def parse_yes_no(text: str, *, yes: Sequence[str], no: Sequence[str]) -> bool:
    """True for one of the ``yes`` words, False for a ``no`` word; numbers are not accepted.

    The message names the first word of each list, so put the user's language first.
    """
    key = _key(text)
    if not key:
        raise InvalidAnswer("empty")
    is_yes = key in {_key(word) for word in yes}
    is_no = key in {_key(word) for word in no}
    if is_yes != is_no:
        return is_yes
    raise InvalidAnswer("not_yes_no", yes=_first(yes), no=_first(no))


def _first(words: Sequence[str]) -> str:
    return normalize(words[0]) if words else ""
