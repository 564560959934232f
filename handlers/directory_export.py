"""``dxbot directory export``: the directory as the import reads it, so a round trip is a no-op.

Only what an import wrote is exported: active staff listed by a directory file (people the
chat met but no file named are not) and the stored working groups (``[[groups]]`` from the
settings file stay there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import Catalog
from handlers.directory_columns import COLUMNS, GROUPS, ROLES, STAFF, label
from handlers.directory_files import Table, kind_of, write_csv, write_xlsx
from storage.directory import active_groups, listed_staff


@dataclass(frozen=True, slots=True)
class ExportCounts:
    staff: int
    groups: int
    groups_written: bool


async def export_directory(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    groups_path: Path | None,
    adapter: str,
    catalog: Catalog,
    locale: str,
) -> ExportCounts:
    """Write ``path`` (CSV: staff; XLSX: sheets 職員 and 部会) and ``groups_path`` if given.

    Raises ``UnreadableFile`` for a name that is neither .csv nor .xlsx.
    """
    kinds = [kind_of(p) for p in (path, groups_path) if p is not None]
    async with sessions() as session:
        staff = await listed_staff(session, adapter)
        groups = await active_groups(session)
    join = catalog.t(locale, "directory.list_separator").join
    staff_table = _table(
        catalog,
        locale,
        STAFF,
        [
            [
                s.user_id,
                s.name,
                s.section,
                _role(catalog, locale, s.role),
                join(s.groups),
                s.locale or "",
            ]
            for s in staff
        ],
    )
    group_table = _table(
        catalog,
        locale,
        GROUPS,
        [[g.name, g.channel or "", g.adapter, join(g.sections), join(g.keywords)] for g in groups],
    )
    _write(path, kinds[0], [staff_table, group_table] if kinds[0] == "xlsx" else [staff_table])
    if groups_path is not None:
        _write(groups_path, kinds[1], [group_table])
    return ExportCounts(
        staff=len(staff),
        groups=len(groups),
        groups_written=kinds[0] == "xlsx" or groups_path is not None,
    )


def _table(catalog: Catalog, locale: str, kind: str, rows: list[list[str]]) -> Table:
    header = [label(catalog, locale, kind, key) for key in COLUMNS[kind]]
    return Table(catalog.t(locale, f"directory.sheets.{kind}"), header, rows)


def _role(catalog: Catalog, locale: str, role: str) -> str:
    return catalog.t(locale, f"roles.{role}") if role in ROLES else role


def _write(path: Path, kind: str, tables: list[Table]) -> None:
    if kind == "xlsx":
        write_xlsx(path, tables)
    else:
        write_csv(path, tables[0].header, tables[0].rows)
