"""``dxbot directory import|export``: the directory (名簿) kept in Excel, at the shell.

The work is done in ``handlers/directory_import.py`` and ``handlers/directory_export.py``;
this module only parses arguments and prints, in the operator's language.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.clock import SystemClock
from bot.i18n import Catalog

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from config.settings import Settings
    from handlers.directory_import import ImportOutcome, ImportRequest
    from storage.directory_sync import SyncResult

EXIT_FILE = 5  # the file has problems (or cannot be read): nothing was imported

Text = Callable[..., str]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directory = commands.add_parser("directory", help="staff and working-group directory (名簿)")
    tools = directory.add_subparsers(dest="directory_command", required=True)
    load = tools.add_parser("import", help="load staff and working groups from CSV or XLSX")
    load.add_argument("file", type=Path, help="staff CSV, or XLSX with sheets 職員 and 部会")
    load.add_argument("--groups", type=Path, help="working groups (部会) as a separate file")
    load.add_argument("--dry-run", action="store_true", help="check and report; change nothing")
    load.add_argument(
        "--deactivate-missing",
        action="store_true",
        help="mark listed staff, groups and sections absent from the file inactive",
    )
    load.add_argument("--adapter", default="relay", help="platform of the user ids (relay)")
    save = tools.add_parser("export", help="write the directory as CSV or XLSX")
    save.add_argument("file", type=Path, help="staff CSV, or XLSX (sheets 職員 and 部会)")
    save.add_argument("--groups", type=Path, help="also write the working groups to this file")
    save.add_argument("--adapter", default="relay", help="platform of the user ids (relay)")


async def run(
    args: argparse.Namespace,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    text: Text,
) -> int:
    # The import and export code is loaded here, not with the CLI: `dxbot serve` never needs it.
    from handlers.directory_import import ImportRequest, import_directory

    catalog = Catalog.load(default=settings.locale.default, terms=settings.locale.terms())
    if args.directory_command == "export":
        return await _export(args, settings, sessions, catalog, text)
    request = ImportRequest(
        path=args.file,
        groups_path=args.groups,
        adapter=args.adapter,
        dry_run=args.dry_run,
        deactivate_missing=args.deactivate_missing,
    )
    outcome = await import_directory(
        sessions, settings, request, catalog=catalog, now=SystemClock().now()
    )
    if outcome.problems:
        _print_problems(outcome, request, settings, catalog, text)
        return EXIT_FILE
    assert outcome.result is not None
    if request.dry_run:
        heading = "directory.dry_run"
    else:
        heading = "directory.imported" if outcome.written else "directory.unchanged"
    print(text(heading))
    _print_counts(outcome.result, text, groups_given=outcome.groups_given)
    return 0


def _print_problems(
    outcome: ImportOutcome,
    request: ImportRequest,
    settings: Settings,
    catalog: Catalog,
    text: Text,
) -> None:
    from handlers.directory_import import report_line

    # A dry run's report is its answer (stdout); a refused import is an error (stderr).
    out = sys.stdout if request.dry_run else sys.stderr
    key = "directory.dry_run_problems" if request.dry_run else "directory.problems"
    print(text(key, count=len(outcome.problems)), file=out)
    for problem in outcome.problems:
        print(report_line(catalog, settings.locale.default, problem), file=out)


def _print_counts(result: SyncResult, text: Text, *, groups_given: bool) -> None:
    for kind, tally in (
        ("staff", result.staff),
        ("groups", result.groups),
        ("sections", result.sections),
    ):
        print(
            text(
                "directory.counts",
                kind=text(f"directory.{kind}"),
                added=tally.added,
                updated=tally.updated,
                unchanged=tally.unchanged,
                deactivated=tally.deactivated,
            )
        )
    if not groups_given:
        print(text("directory.no_groups"))


async def _export(
    args: argparse.Namespace,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    text: Text,
) -> int:
    from handlers.directory_export import export_directory
    from handlers.directory_files import UnreadableFile

    locale = settings.locale.default
    try:
        counts = await export_directory(
            sessions,
            args.file,
            groups_path=args.groups,
            adapter=args.adapter,
            catalog=catalog,
            locale=locale,
        )
    except UnreadableFile as exc:
        print(catalog.t(locale, f"directory.files.{exc.reason}", **exc.values), file=sys.stderr)
        return EXIT_FILE
    print(text("directory.exported", path=args.file, staff=counts.staff, groups=counts.groups))
    if args.groups is not None:
        print(text("directory.exported_groups", path=args.groups))
    elif not counts.groups_written:
        print(text("directory.export_groups_hint"))
    return 0
