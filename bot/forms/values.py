"""Per step type: read what was typed into a stored value, and show a stored value back."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.forms import answers
from bot.forms.dates import format_date_ja, parse_date
from bot.forms.definition import Step
from bot.i18n import Catalog


def parse(step: Step, text: str, *, catalog: Catalog, locale: str, today: date) -> Any:
    """The JSON-ready value for ``text``, or raise ``answers.InvalidAnswer``."""
    if step.type in ("text", "lookup"):
        return answers.parse_text(text, min_length=step.min_length, max_length=step.max_length)
    if step.type == "long_text":
        return answers.parse_text(
            text, min_length=step.min_length, max_length=step.max_length, multiline=True
        )
    if step.type == "number":
        return answers.parse_number(
            text,
            minimum=step.minimum,
            maximum=step.maximum,
            unit=step.unit,
            integer=step.integer,
        )
    if step.type == "choice":
        return answers.parse_choice(text, step.options_for(locale))
    if step.type == "multi_choice":
        return answers.parse_multi_choice(
            text, step.options_for(locale), min_count=step.min_count, max_count=step.max_count
        )
    if step.type == "yes_no":
        # The person's own language first: the refusal message quotes the first words.
        order = [locale, *(other for other in catalog.locales if other != locale)]
        return answers.parse_yes_no(
            text,
            yes=catalog.words("forms.words.yes", order),
            no=catalog.words("forms.words.no", order),
        )
    return parse_date(text, today=today).isoformat()


def parse_choice_value(step: Step, value: str) -> Any:
    """A pressed button's value, checked against the step (a stale button is refused)."""
    if step.type == "yes_no" and value in ("yes", "no"):
        return value == "yes"
    if step.type == "choice" and value in {o.value for o in step.options}:
        return value
    raise answers.InvalidAnswer("stale_button")


def display(step: Step, value: Any, *, catalog: Catalog, locale: str) -> str:
    """How an answer reads in the summary and in messages."""
    if value is None:
        return catalog.t(locale, "forms.skipped")
    if step.type == "number":
        return _number(step, value, catalog, locale)
    if step.type in ("choice", "multi_choice"):
        labels = {o.value: o.label for o in step.options_for(locale)}
        values = value if isinstance(value, list) else [value]
        return catalog.t(locale, "forms.list_separator").join(
            labels.get(v) or str(v) for v in values
        )
    if step.type == "yes_no":
        return catalog.t(locale, "forms.yes" if value else "forms.no")
    if step.type == "date":
        day = date.fromisoformat(value)
        return format_date_ja(day) if locale == "ja" else day.isoformat()
    return str(value)


def _number(step: Step, value: Any, catalog: Catalog, locale: str) -> str:
    amount = int(value) if float(value).is_integer() else value
    if step.unit is None:
        return str(amount)
    return catalog.t(locale, f"forms.units.{step.unit}", n=amount)
