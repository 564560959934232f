"""Reading ``/dx export csv status:受付 課:市民課 group:窓口部会``: the format and filters.

Filter names and status labels come from the catalogue in every language, because people
type whichever they remember (``status:received`` and ``状況:受付`` mean the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.i18n import Catalog
from bot.text import fold, normalize
from storage.issues import STATUSES

FORMATS = ("csv", "xlsx")
FILTERS = ("status", "section", "group")
_FILTER = re.compile(r"([^\s:]+)\s*:\s*([^\s:]+)")


class UsageError(ValueError):
    """The command text is not ``FORMAT [name:value …]``."""


class UnknownStatus(ValueError):
    """A ``status:`` filter names no status; ``value`` is what was typed."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


@dataclass(frozen=True, slots=True)
class ExportRequest:
    format: str
    statuses: frozenset[str] = field(default_factory=frozenset)
    sections: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def filters(self) -> dict[str, list[str]]:
        """The filters in use, for the audit trail."""
        chosen = {"status": self.statuses, "section": self.sections, "group": self.groups}
        return {name: sorted(values) for name, values in chosen.items() if values}


def parse_export(text: str, catalog: Catalog) -> ExportRequest:
    """The format (one bare word) and filters; several values of one filter mean "any of"."""
    normalized = normalize(text)
    names = _filter_names(catalog)
    chosen: dict[str, set[str]] = {name: set() for name in FILTERS}
    for typed_name, value in _FILTER.findall(normalized):
        name = names.get(fold(typed_name))
        if name is None:
            raise UsageError(typed_name)
        chosen[name].add(_status(value, catalog) if name == "status" else value)
    words = _FILTER.sub(" ", normalized).split()
    if len(words) != 1 or fold(words[0]) not in FORMATS:
        raise UsageError(normalized)
    return ExportRequest(
        format=fold(words[0]),
        statuses=frozenset(chosen["status"]),
        sections=frozenset(chosen["section"]),
        groups=frozenset(chosen["group"]),
    )


def _filter_names(catalog: Catalog) -> dict[str, str]:
    names: dict[str, str] = {}
    for name in FILTERS:
        for word in [name, *catalog.words(f"export.filters.{name}")]:
            names[fold(word)] = name
    return names


def _status(typed: str, catalog: Catalog) -> str:
    wanted = fold(typed)
    for status in STATUSES:
        labels = {status, *(catalog.t(locale, f"status.{status}") for locale in catalog.locales)}
        if wanted in {fold(label) for label in labels}:
            return status
    raise UnknownStatus(typed)
