"""Check a directory file row by row, before anything is written.

Every problem is collected (not only the first), each with its sheet, the row number Excel
shows, the column and a reason in the operator's language: the person fixing the spreadsheet
gets the whole list at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n import Catalog
from bot.text import fold, normalize
from handlers.directory_columns import (
    GROUPS,
    REQUIRED,
    ROLES,
    STAFF,
    header_index,
    label,
    parse_role,
    split_list,
)
from handlers.directory_files import Sheet
from storage.directory_sync import GroupEntry, StaffEntry

# The widths of the columns the values go to (storage.models.Staff, storage.directory).
LIMITS = {"user_id": 255, "name": 255, "section": 100, "group": 100, "channel": 255}
_ADAPTER = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True, slots=True)
class Problem:
    sheet: str
    row: int
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class KnownGroups:
    """Groups a staff row may say it leads, and those only in ``[[groups]]`` (to hint)."""

    names: dict[str, str]  # folded → as stored
    configured_only: frozenset[str] = frozenset()  # folded


class Checker:
    """Turns sheets into entries, collecting ``problems`` on the way."""

    def __init__(self, catalog: Catalog, locale: str, adapter: str) -> None:
        self.catalog = catalog
        self.locale = locale
        self.adapter = adapter
        self.problems: list[Problem] = []

    def groups(self, sheet: Sheet) -> list[GroupEntry]:
        columns = self._columns(sheet, GROUPS)
        if columns is None:
            return []
        entries: list[GroupEntry] = []
        first_row: dict[str, int] = {}
        routed: dict[str, tuple[str, int]] = {}  # folded section → (group, row)
        for number, cells in sheet.rows:
            row = _Row(self, sheet, GROUPS, number, cells, columns)
            name = row.cell("name", limit=LIMITS["group"], required=True)
            if name and fold(name) in first_row:
                row.problem("name", "duplicate_group", value=name, first=first_row[fold(name)])
                continue
            if name:
                first_row[fold(name)] = number
            sections = row.items("sections", limit=LIMITS["section"])
            for section in sections:
                taken = routed.setdefault(fold(section), (name, number))
                if taken[1] != number:
                    row.problem(
                        "sections", "section_taken", value=section, group=taken[0], first=taken[1]
                    )
            entries.append(
                GroupEntry(
                    name=name,
                    adapter=row.adapter(),
                    channel=row.cell("channel", limit=LIMITS["channel"]) or None,
                    sections=sections,
                    keywords=row.items("keywords"),
                )
            )
        return entries

    def staff(self, sheet: Sheet, known: KnownGroups) -> list[StaffEntry]:
        columns = self._columns(sheet, STAFF)
        if columns is None:
            return []
        entries: list[StaffEntry] = []
        first_row: dict[str, int] = {}
        for number, cells in sheet.rows:
            row = _Row(self, sheet, STAFF, number, cells, columns)
            user_id = normalize(row.cell("user_id", limit=LIMITS["user_id"], required=True))
            if user_id in first_row:
                row.problem("user_id", "duplicate_user_id", value=user_id, first=first_row[user_id])
            elif user_id:
                first_row[user_id] = number
            entries.append(
                StaffEntry(
                    user_id=user_id,
                    name=row.cell("name", limit=LIMITS["name"], required=True),
                    section=row.cell("section", limit=LIMITS["section"], required=True),
                    role=row.role(),
                    groups=row.led_groups(known),
                    locale=row.language(),
                )
            )
        return entries

    def _columns(self, sheet: Sheet, kind: str) -> dict[str, int] | None:
        if not sheet.header:
            self.problems.append(Problem(sheet.label, 1, "-", self.say("errors.no_header")))
            return None
        columns = header_index(self.catalog, kind, sheet.header)
        missing = [key for key in REQUIRED[kind] if key not in columns]
        for key in missing:
            column = label(self.catalog, self.locale, kind, key)
            self.problems.append(
                Problem(sheet.label, 1, column, self.say("errors.missing_column", column=column))
            )
        return None if missing else columns

    def say(self, key: str, **values: object) -> str:
        return self.catalog.t(self.locale, f"directory.{key}", **values)


class _Row:
    """One data row being checked: reads cells by column key and records problems."""

    def __init__(
        self,
        checker: Checker,
        sheet: Sheet,
        kind: str,
        number: int,
        cells: list[str],
        columns: dict[str, int],
    ) -> None:
        self.checker, self.sheet, self.kind = checker, sheet, kind
        self.number, self.cells, self.columns = number, cells, columns

    def raw(self, key: str) -> str:
        index = self.columns.get(key)
        return self.cells[index] if index is not None and index < len(self.cells) else ""

    def cell(self, key: str, *, limit: int | None = None, required: bool = False) -> str:
        value = " ".join(self.raw(key).split())
        if required and not value:
            self.problem(key, "empty")
        elif limit is not None and len(value) > limit:
            self.problem(key, "too_long", value=_short(value), limit=limit)
        return value

    def items(self, key: str, *, limit: int | None = None) -> tuple[str, ...]:
        found = split_list(self.raw(key))
        for item in found:
            if limit is not None and len(item) > limit:
                self.problem(key, "too_long", value=_short(item), limit=limit)
        return found

    def role(self) -> str:
        value = self.cell("role")
        role = parse_role(self.checker.catalog, value)
        if role is None:
            self.problem("role", "unknown_role", value=value, allowed=self._role_names())
            return "staff"
        return role

    def led_groups(self, known: KnownGroups) -> tuple[str, ...]:
        names: list[str] = []
        for name in self.items("groups"):
            stored = known.names.get(fold(name))
            if stored is not None:
                names.append(stored)
            elif fold(name) in known.configured_only:
                self.problem("groups", "configured_group", value=name)
            else:
                self.problem("groups", "unknown_group", value=name)
        return tuple(dict.fromkeys(names))

    def language(self) -> str | None:
        value = fold(self.raw("language"))
        if not value:
            return None
        catalog = self.checker.catalog
        if value not in catalog.locales:
            # The default language first: ja / en.
            locales = sorted(catalog.locales, key=lambda locale: locale != catalog.default)
            self.problem("language", "unknown_language", value=value, allowed=" / ".join(locales))
            return None
        return value

    def adapter(self) -> str:
        value = fold(self.raw("adapter"))
        if not value:
            return self.checker.adapter
        if not _ADAPTER.fullmatch(value):
            self.problem("adapter", "bad_adapter", value=_short(value))
        return value

    def problem(self, key: str, reason: str, **values: object) -> None:
        checker = self.checker
        column = label(checker.catalog, checker.locale, self.kind, key)
        text = checker.say(f"errors.{reason}", column=column, **values)
        checker.problems.append(Problem(self.sheet.label, self.number, column, text))

    def _role_names(self) -> str:
        checker = self.checker
        names = (checker.catalog.t(checker.locale, f"roles.{role}") for role in ROLES)
        return " / ".join(names)


def _short(value: str, limit: int = 30) -> str:
    """A long cell quoted in a report: enough to find it."""
    return value if len(value) <= limit else value[:limit] + "…"
