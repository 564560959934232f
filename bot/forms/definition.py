"""Form definitions, read from ``config/forms/*.toml`` so questions change without code."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.forms.answers import Option

FORMS_DIR = Path(__file__).resolve().parents[2] / "config" / "forms"
StepType = Literal[
    "text", "long_text", "number", "choice", "multi_choice", "yes_no", "date", "lookup"
]
STEP_TYPES: tuple[str, ...] = StepType.__args__  # type: ignore[attr-defined]
NUMBER_UNITS = (None, "minutes", "people", "times")

Localized = Mapping[str, str]


class FormDefinitionError(ValueError):
    """A form file is wrong; the message names the file, the step and the key."""


@dataclass(frozen=True, slots=True)
class LocalizedOption:
    value: str
    label: Localized
    aliases: tuple[str, ...] = ()

    def option(self, locale: str) -> Option:
        # The label in the other languages still selects it: people mix languages.
        others = tuple(text for lang, text in self.label.items() if lang != locale)
        return Option(self.value, pick(self.label, locale), (*self.aliases, *others))


@dataclass(frozen=True, slots=True)
class Condition:
    """Show a step only when an earlier answer is one of ``values``."""

    step: str
    values: tuple[Any, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        answer = answers.get(self.step)
        if isinstance(answer, list):
            return any(item in self.values for item in answer)
        return answer in self.values


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    type: StepType
    prompt: Localized
    label: Localized
    help: Localized = field(default_factory=dict)
    optional: bool = False
    when: Condition | None = None
    min_length: int = 1
    max_length: int = 200
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    integer: bool = True
    options: tuple[LocalizedOption, ...] = ()
    min_count: int = 1
    max_count: int | None = None
    source: str | None = None

    def applies(self, answers: Mapping[str, Any]) -> bool:
        return self.when is None or self.when.holds(answers)

    def options_for(self, locale: str) -> list[Option]:
        return [o.option(locale) for o in self.options]


@dataclass(frozen=True, slots=True)
class FormDefinition:
    name: str
    title: Localized
    steps: tuple[Step, ...]

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def next_step(self, after: str | None, answers: Mapping[str, Any]) -> Step | None:
        """The first step after ``after`` (or the first of all) whose condition holds."""
        ids = [s.id for s in self.steps]
        start = 0 if after is None else ids.index(after) + 1
        for step in self.steps[start:]:
            if step.applies(answers):
                return step
        return None

    def visible_steps(self, answers: Mapping[str, Any]) -> list[Step]:
        return [s for s in self.steps if s.applies(answers)]


def pick(text: Localized, locale: str) -> str:
    """The text in ``locale``, else Japanese, else any."""
    return text.get(locale) or text.get("ja") or next(iter(text.values()), "")


def load_forms(directory: Path = FORMS_DIR, site: Path | None = None) -> dict[str, FormDefinition]:
    """Every form of ``directory``; then ``site``'s (``[forms] directory``), each replacing the
    form of its name or adding one."""
    forms = {}
    for folder in (directory, site):
        for path in sorted(folder.glob("*.toml")) if folder is not None else []:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise FormDefinitionError(f"{path}: {exc}") from exc
            form = parse_form(data, str(path))
            forms[form.name] = form
    return forms


def parse_form(data: Mapping[str, Any], source: str = "<form>") -> FormDefinition:
    name = _require(data, "name", str, source)
    raw_steps = _require(data, "steps", list, source)
    if not raw_steps:
        raise FormDefinitionError(f"{source}: a form needs at least one step")
    steps: list[Step] = []
    for index, raw in enumerate(raw_steps, start=1):
        steps.append(_parse_step(raw, f"{source} step {index}", {s.id for s in steps}))
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise FormDefinitionError(f"{source}: step ids repeat")
    return FormDefinition(name, _localized(data.get("title", name), source), tuple(steps))


STEP_KEYS = frozenset(
    {
        "id",
        "type",
        "prompt",
        "label",
        "help",
        "optional",
        "when",
        "min_length",
        "max_length",
        "min",
        "max",
        "unit",
        "integer",
        "options",
        "min_count",
        "max_count",
        "source",
    }
)


def _parse_step(raw: Mapping[str, Any], where: str, earlier: set[str]) -> Step:
    step_id = _require(raw, "id", str, where)
    where = f"{where} ({step_id})"
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise FormDefinitionError(f"{where}: unknown keys {unknown}")
    try:
        return _build_step(raw, where, step_id, earlier)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FormDefinitionError):
            raise
        raise FormDefinitionError(f"{where}: {exc}") from exc


def _build_step(raw: Mapping[str, Any], where: str, step_id: str, earlier: set[str]) -> Step:
    kind = _require(raw, "type", str, where)
    if kind not in STEP_TYPES:
        raise FormDefinitionError(f"{where}: type must be one of {', '.join(STEP_TYPES)}")
    options = tuple(_parse_option(o, where) for o in raw.get("options", []))
    if kind in ("choice", "multi_choice") and not options:
        raise FormDefinitionError(f"{where}: a {kind} step needs options")
    if kind == "lookup" and not raw.get("source"):
        raise FormDefinitionError(f"{where}: a lookup step needs a source")
    if raw.get("unit") not in NUMBER_UNITS:
        raise FormDefinitionError(f"{where}: unit must be minutes, people or times")
    return Step(
        id=step_id,
        type=kind,
        prompt=_localized(_require(raw, "prompt", (str, dict), where), where),
        label=_localized(raw.get("label", step_id), where),
        help=_localized(raw.get("help", {}), where),
        optional=_flag(raw, "optional", where),
        when=_parse_condition(raw.get("when"), where, earlier),
        min_length=int(raw.get("min_length", 1)),
        max_length=int(raw.get("max_length", 2000 if kind == "long_text" else 200)),
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        unit=raw.get("unit"),
        integer=_flag(raw, "integer", where, default=True),
        options=options,
        min_count=int(raw.get("min_count", 1)),
        max_count=raw.get("max_count"),
        source=raw.get("source"),
    )


def _parse_option(raw: Mapping[str, Any], where: str) -> LocalizedOption:
    value = _require(raw, "value", str, where)
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise FormDefinitionError(f"{where}: option {value!r} aliases must be a list of strings")
    return LocalizedOption(value, _localized(raw.get("label", value), where), tuple(aliases))


def _flag(raw: Mapping[str, Any], key: str, where: str, *, default: bool = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise FormDefinitionError(f"{where}: {key!r} must be true or false")
    return value


def _parse_condition(raw: Any, where: str, earlier: set[str]) -> Condition | None:
    if raw is None:
        return None
    step = _require(raw, "step", str, where + " when")
    if "in" not in raw and "equals" not in raw:
        raise FormDefinitionError(f"{where}: when needs 'in' or 'equals'")
    if step not in earlier:
        raise FormDefinitionError(f"{where}: when.step {step!r} is not an earlier step")
    values: Sequence[Any] = raw["in"] if "in" in raw else [raw.get("equals")]
    return Condition(step, tuple(values))


def _localized(raw: Any, where: str) -> dict[str, str]:
    if isinstance(raw, str):
        return {"ja": raw}
    if isinstance(raw, dict) and all(isinstance(v, str) for v in raw.values()):
        return dict(raw)
    raise FormDefinitionError(f"{where}: text must be a string or a table like {{ja = …, en = …}}")


def _require(data: Mapping[str, Any], key: str, kind: Any, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise FormDefinitionError(f"{where}: {key!r} is missing or of the wrong type")
    return value
