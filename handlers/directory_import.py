"""``dxbot directory import``: read the file(s), check every row, then write all or nothing.

One transaction: a file with any problem changes nothing, and a dry run is the same import
rolled back, so what it reports is exactly what the real run would do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import Catalog
from bot.text import fold
from config.settings import Settings
from handlers.directory_check import Checker, KnownGroups, Problem
from handlers.directory_columns import GROUPS, STAFF, is_sheet
from handlers.directory_files import Sheet, UnreadableFile, kind_of, read_csv, read_xlsx
from storage import issue_queries as queries
from storage.directory import stored_groups
from storage.directory_sync import GroupEntry, SyncResult, sync_directory


@dataclass(frozen=True, slots=True)
class ImportRequest:
    path: Path
    groups_path: Path | None = None  # a separate 部会 file; else the workbook's 部会 sheet
    adapter: str = "relay"  # the platform the user ids belong to
    dry_run: bool = False
    deactivate_missing: bool = False


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    problems: list[Problem]
    result: SyncResult | None  # None: problems stopped the import
    written: bool
    groups_given: bool = False  # a 部会 sheet or file was read (else groups were left alone)


async def import_directory(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    request: ImportRequest,
    *,
    catalog: Catalog,
    now: datetime,
) -> ImportOutcome:
    """Check, then (unless a dry run or nothing changed) write; never half of a file."""
    locale = settings.locale.default
    try:
        staff_sheet, group_sheet = _sheets(catalog, request)
    except UnreadableFile as exc:
        reason = catalog.t(locale, f"directory.files.{exc.reason}", **exc.values)
        return ImportOutcome([Problem(str(exc.values.get("path", "")), 0, "", reason)], None, False)
    checker = Checker(catalog, locale, request.adapter)
    groups = checker.groups(group_sheet) if group_sheet is not None else None
    async with sessions() as session:
        known = await _known_groups(session, settings, groups, request.deactivate_missing)
        staff = checker.staff(staff_sheet, known)
        if checker.problems:
            return ImportOutcome(checker.problems, None, False)
        result = await sync_directory(
            session,
            adapter=request.adapter,
            staff=staff,
            groups=groups,
            now=now,
            deactivate_missing=request.deactivate_missing,
        )
        given = groups is not None
        if request.dry_run or not result.changed:
            await session.rollback()
            return ImportOutcome([], result, written=False, groups_given=given)
        _audit(session, request, result, now)
        await session.commit()
    return ImportOutcome([], result, written=True, groups_given=given)


def report_line(catalog: Catalog, locale: str, problem: Problem) -> str:
    """「職員 3行目「役割」: …」, or the file and reason when the file itself is the problem."""
    if problem.row == 0:
        return catalog.t(locale, "directory.report.file_line", reason=problem.reason)
    return catalog.t(
        locale,
        "directory.report.line",
        sheet=problem.sheet,
        row=problem.row,
        column=problem.column,
        reason=problem.reason,
    )


def _audit(
    session: AsyncSession, request: ImportRequest, result: SyncResult, now: datetime
) -> None:
    """Who changed the directory is the operator at the shell: the file and counts are kept."""
    queries.audit(
        session,
        at=now,
        action="directory.imported",
        subject_type="directory",
        subject_id=None,
        detail={
            "file": request.path.name,
            "groups_file": request.groups_path.name if request.groups_path else None,
            "adapter": request.adapter,
            "deactivate_missing": request.deactivate_missing,
            "staff": asdict(result.staff),
            "groups": asdict(result.groups),
            "sections": asdict(result.sections),
        },
    )


def _sheets(catalog: Catalog, request: ImportRequest) -> tuple[Sheet, Sheet | None]:
    tables = _read(request.path)
    staff = next((s for s in tables if is_sheet(catalog, STAFF, s.label)), tables[0])
    if request.groups_path is not None:
        extra = _read(request.groups_path)
        return staff, next((s for s in extra if is_sheet(catalog, GROUPS, s.label)), extra[0])
    others = (s for s in tables if s is not staff and is_sheet(catalog, GROUPS, s.label))
    return staff, next(others, None)


def _read(path: Path) -> list[Sheet]:
    if kind_of(path) == "csv":
        return [read_csv(path)]
    sheets = list(read_xlsx(path).values())
    return sheets or [Sheet(path.name, [], [])]


async def _known_groups(
    session: AsyncSession,
    settings: Settings,
    groups: list[GroupEntry] | None,
    deactivate_missing: bool,
) -> KnownGroups:
    """The file's groups, and the stored ones unless this import is about to retire them."""
    names = {fold(g.name): g.name for g in groups or () if g.name}
    if groups is None or not deactivate_missing:
        for name, row in (await stored_groups(session)).items():
            if row.active:
                names.setdefault(fold(name), name)
    configured = {fold(g.name) for g in settings.groups}
    return KnownGroups(names, frozenset(configured - names.keys()))
