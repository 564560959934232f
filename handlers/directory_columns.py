"""The directory file's columns, sheet names and role words, in every language.

Headers, sheet names and roles are matched against every catalogue (Japanese 「ユーザーID」 or
English ``user_id``), so a file keeps working when the bot's language changes. The export writes
them in the default language.
"""

from __future__ import annotations

import re

from bot.i18n import Catalog
from bot.text import fold

STAFF = "staff"
GROUPS = "groups"
COLUMNS = {
    STAFF: ("user_id", "name", "section", "role", "groups", "language"),
    GROUPS: ("name", "channel", "adapter", "sections", "keywords"),
}
REQUIRED = {STAFF: ("user_id", "name", "section", "role"), GROUPS: ("name",)}
ROLES = ("staff", "leader", "policy", "admin")
# 「窓口部会、ペーパーレス部会」: Japanese and Latin commas, semicolons, Alt+Enter in a cell.
_SEPARATORS = re.compile(r"[、,，;；\n]")


def label(catalog: Catalog, locale: str, kind: str, key: str) -> str:
    """The header the export writes for column ``key`` of sheet ``kind``."""
    return catalog.t(locale, f"directory.columns.{kind}.{key}")


def header_index(catalog: Catalog, kind: str, header: list[str]) -> dict[str, int]:
    """Column key → position, for the columns this header names (extra columns are ignored)."""
    found: dict[str, int] = {}
    for key in COLUMNS[kind]:
        words = [
            *catalog.words(f"directory.columns.{kind}.{key}"),
            *catalog.words(f"directory.column_aliases.{kind}.{key}"),  # e.g. an older export's
        ]
        names = {fold(key), *(fold(w) for w in words)}
        position = next((i for i, cell in enumerate(header) if fold(cell) in names), None)
        if position is not None:
            found[key] = position
    return found


def is_sheet(catalog: Catalog, kind: str, title: str) -> bool:
    """Whether a workbook sheet called ``title`` holds ``kind`` (職員 / staff, 部会 / groups)."""
    names = {fold(kind), *(fold(w) for w in catalog.words(f"directory.sheets.{kind}"))}
    return fold(title) in names


def parse_role(catalog: Catalog, text: str) -> str | None:
    """職員 / DX推進リーダー / 情報政策課 / 管理者, English names or aliases → role key."""
    wanted = fold(text)
    if not wanted:
        return "staff"
    for role in ROLES:
        words = [role, *catalog.words(f"roles.{role}"), *catalog.words(f"directory.roles.{role}")]
        if wanted in {fold(w) for w in words}:
            return role
    return None


def split_list(text: str) -> tuple[str, ...]:
    """「窓口部会、ペーパーレス部会」 → the names, blanks dropped, order and first spelling kept."""
    parts = (" ".join(p.split()) for p in _SEPARATORS.split(text))
    return tuple(dict.fromkeys(p for p in parts if p))
