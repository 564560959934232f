"""The ``dxbot`` command: serve, migrate, chat, config check, directory import/export."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import tomllib
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import cli_directory, cli_ops
from bot import logging as bot_logging
from bot.adapters.console import ConsoleAdapter, ConsoleChat
from bot.forms.definition import FormDefinitionError, load_forms
from bot.i18n import Catalog
from bot.recurrence import RuleError, parse_offset, parse_rule
from bot.runtime import Runtime, SchemaOutOfDate, webhooks_from_settings
from config.settings import Settings, load_settings
from storage import migrate
from storage.engine import create_engine, session_factory
from storage.migrate import MigrationFailed
from storage.sqlite_lock import DatabaseInUse, LockUnusable, SQLiteLock, database_path

EXIT_CONFIG = 2
EXIT_SCHEMA = 3
EXIT_IN_USE = 4
EXIT_PORT = 8
# SQLSTATE classes of a server that will not let us in: 08 connection, 28 authorization,
# 3D no such database, 53300 too many connections, 57P03 starting up or shutting down.
_REFUSED_STATES = ("08", "28", "3D", "53300", "57P03")
Refusal = SchemaOutOfDate | MigrationFailed | DatabaseInUse | LockUnusable
REFUSALS = (SchemaOutOfDate, MigrationFailed, DatabaseInUse, LockUnusable)


def _version() -> str:
    try:
        return version("dxbot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dxbot", description="dxbot: DX推進 chatbot")
    parser.add_argument("--config", help="TOML settings file (default: $DXBOT_CONFIG)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the webhook server, inbox worker and outbox")
    commands.add_parser("migrate", help="bring the database schema up to date")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="console-user", help="who you are in the chat")
    config = commands.add_parser("config", help="configuration tools")
    config.add_subparsers(dest="config_command", required=True).add_parser(
        "check", help="validate the settings and explain any error"
    )
    cli_directory.add_parser(commands)
    cli_ops.add_parsers(commands)
    return parser


class CliText:
    """Operator-facing text in the configured language."""

    def __init__(self, locale: str = "ja") -> None:
        self._locale = locale
        self._catalog: Catalog | None = None  # loaded when something is said: a start says nothing

    def __call__(self, key: str, **values: object) -> str:
        if self._catalog is None:
            self._catalog = Catalog.load(default=self._locale)
        return self._catalog.t(None, f"cli.{key}", **values)


def _load(path: str | None, text: CliText) -> Settings | None:
    try:
        return load_settings(path)
    except FileNotFoundError as exc:
        print(text("config_missing_file", path=exc), file=sys.stderr)
    except tomllib.TOMLDecodeError as exc:
        print(text("config_bad_toml", detail=exc), file=sys.stderr)
    except SettingsError as exc:
        print(text("config_error_header"), file=sys.stderr)
        print(text("config_error_line", location="env", message=exc), file=sys.stderr)
    except ValidationError as exc:
        print(text("config_error_header"), file=sys.stderr)
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"]) or "-"
            print(
                text("config_error_line", location=location, message=error["msg"]), file=sys.stderr
            )
    return None


def _redacted_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        rest = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return scheme + sep + rest


def _secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings (any SecretStr field), to mask in logs."""
    found = [
        value.get_secret_value()
        for _, section in settings
        if isinstance(section, BaseModel)
        for value in section.__dict__.values()
        if isinstance(value, SecretStr)
    ]
    _, _, rest = settings.database.url.partition("://")
    credentials = rest.rpartition("@")[0]
    if ":" in credentials:
        found.append(credentials.split(":", 1)[1])
    return found


async def _serve(settings: Settings, text: CliText) -> int:
    from bot.server import PortUnavailable, serve

    runtime = Runtime(settings)
    try:
        await serve(runtime)
    except REFUSALS as exc:
        await runtime.engine.dispose()
        return _refused(exc, text)
    except PortUnavailable as exc:
        http = settings.http
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(text("port_in_use", host=http.host, port=http.port, detail=reason), file=sys.stderr)
        return EXIT_PORT
    return 0


def _refused(exc: Refusal, text: CliText) -> int:
    """Say why the database cannot be served; the exit code tells a service manager."""
    if isinstance(exc, DatabaseInUse):
        print(text("database_in_use", path=exc), file=sys.stderr)
        return EXIT_IN_USE
    if isinstance(exc, LockUnusable):
        print(text("lock_unusable", path=exc.path, detail=exc.reason), file=sys.stderr)
        return cli_ops.EXIT_DATABASE
    key = "migration_failed" if isinstance(exc, MigrationFailed) else "schema_out_of_date"
    print(text(key, detail=exc), file=sys.stderr)
    return EXIT_SCHEMA


async def _migrate(settings: Settings, text: CliText) -> int:
    """Like ``serve``, it takes a SQLite file's lock: never migrate under a running server."""
    path = database_path(settings.database.url) if settings.database.is_sqlite else None
    lock = SQLiteLock(path) if path is not None else None
    try:
        if lock is not None:
            lock.acquire()
        engine = create_engine(settings.database.url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
    except (DatabaseInUse, LockUnusable) as exc:
        return _refused(exc, text)
    except DBAPIError as exc:
        if _unreachable(exc):
            raise
        print(text("migration_failed", detail=_reason(exc)), file=sys.stderr)
        return EXIT_SCHEMA
    finally:
        if lock is not None:
            lock.release()
    where = path.resolve() if path is not None else _redacted_url(settings.database.url)
    print(text("migrated", database=where, revision=migrate.head_revision()))
    return 0


async def _chat(settings: Settings, text: CliText, user: str) -> int:
    runtime = Runtime(settings, webhooks={}, senders={"console": ConsoleAdapter()})
    try:
        await runtime.prepare()
    except REFUSALS as exc:
        await runtime.engine.dispose()
        return _refused(exc, text)

    async def settle() -> None:
        await runtime.worker.handle_pending()
        await runtime.dispatcher.drain(timeout=10)

    async def read_line(prompt: str) -> str | None:
        try:
            return await asyncio.to_thread(input, prompt)
        except EOFError:
            return None

    print(text("chat_intro", user=user))
    chat = ConsoleChat(runtime.accept, settle, user)
    try:
        await settle()  # anything left from an earlier session
        await chat.run(read_line)
    finally:
        await runtime.stop(flush_seconds=0)
    return 0


async def _directory(args: argparse.Namespace, settings: Settings, text: CliText) -> int:
    """Like ``serve``: SQLite is brought up to date if allowed, PostgreSQL must be migrated."""
    db = settings.database
    if cli_ops.sqlite_file_missing(settings, text):
        return cli_ops.EXIT_DATABASE
    engine = create_engine(db.url, sqlite_synchronous=db.sqlite_synchronous)
    try:
        if not await _schema_ready(engine, settings, text, upgrade_sqlite=True):
            return EXIT_SCHEMA
        return await cli_directory.run(args, settings, session_factory(engine), text)
    finally:
        await engine.dispose()


async def _outbox(args: argparse.Namespace, settings: Settings, text: CliText) -> int:
    if cli_ops.sqlite_file_missing(settings, text):
        return cli_ops.EXIT_DATABASE
    engine = create_engine(settings.database.url)
    try:
        if not await _schema_ready(engine, settings, text, upgrade_sqlite=False):
            return EXIT_SCHEMA
        return await cli_ops.run_outbox(settings, args, session_factory(engine), text)
    finally:
        await engine.dispose()


async def _schema_ready(
    engine: AsyncEngine, settings: Settings, text: CliText, *, upgrade_sqlite: bool
) -> bool:
    """The schema is this version's; SQLite's is brought up to date where ``upgrade_sqlite``
    and the settings allow. Otherwise say why (exit 3)."""
    if await migrate.is_up_to_date(engine):
        return True
    db = settings.database
    if upgrade_sqlite and db.is_sqlite and db.auto_migrate_sqlite:
        await migrate.upgrade(engine)
        return True
    current = await migrate.current_revision(engine)
    detail = f"{current or 'none'} != {migrate.head_revision()}"
    print(text("schema_out_of_date", detail=detail), file=sys.stderr)
    return False


def _forms_ok(settings: Settings, text: CliText) -> bool:
    """Form files are configuration too: check them before anything runs."""
    try:
        load_forms(site=settings.forms.directory)
    except (FormDefinitionError, tomllib.TOMLDecodeError) as exc:
        print(text("forms_error", detail=exc), file=sys.stderr)
        return False
    return True


def _duty_problems(settings: Settings) -> list[tuple[str, str]]:
    """[[duties]] rules and reminder offsets, read the way the reminder job will read them."""
    problems: list[tuple[str, str]] = []
    catalog = Catalog.load(default=settings.locale.default, terms=settings.locale.terms())
    offsets = [("duty.default_reminders", o) for o in settings.duty.default_reminders]
    for n, duty in enumerate(settings.duties, start=1):
        try:
            parse_rule(duty.rule)
        except RuleError as exc:
            problems.append((f"duties[{n}].rule", catalog.t(None, exc.key, **exc.values)))
        offsets += [(f"duties[{n}].reminders", o) for o in duty.reminders or []]
    for location, offset in offsets:
        try:
            parse_offset(offset)
        except RuleError as exc:
            problems.append((location, catalog.t(None, exc.key, **exc.values)))
    return problems


def _check(settings: Settings, text: CliText) -> int:
    try:
        enabled = webhooks_from_settings(settings)  # each platform checks its own settings
    except ValueError as exc:
        print(text("config_error_header"), file=sys.stderr)
        print(text("config_error_line", location="adapters", message=exc), file=sys.stderr)
        return EXIT_CONFIG
    problems = _duty_problems(settings)
    if problems:
        print(text("config_error_header"), file=sys.stderr)
        for location, message in problems:
            print(text("config_error_line", location=location, message=message), file=sys.stderr)
        return EXIT_CONFIG
    relay = text("enabled") if settings.relay.enabled else text("disabled")
    if enabled:
        print(text("adapters_enabled", names=", ".join(sorted(enabled))))
    print(text("config_ok", database=_redacted_url(settings.database.url), relay=relay))
    if settings.relay.enabled and not settings.relay.outbound_url:
        print(text("relay_no_outbound"), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    text = CliText()
    settings = _load(args.config, text)
    if settings is None:
        return EXIT_CONFIG
    text = CliText(settings.locale.default)
    bot_logging.configure(
        settings.logging.level,
        json_format=settings.logging.json_format,
        secrets=_secrets(settings),
    )
    if not _forms_ok(settings, text):
        return EXIT_CONFIG
    if args.command == "config":
        return _check(settings, text)
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate(settings, text))
        return _run(args, settings, text)
    except BrokenPipeError:  # the reader went away (`dxbot outbox list | head`): say no more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (DBAPIError, OSError) as exc:
        if not _unreachable(exc):
            raise
        detail = _masked(_reason(exc), _secrets(settings))
        print(text("database_unreachable", detail=detail), file=sys.stderr)
        return cli_ops.EXIT_DATABASE
    except FormDefinitionError as exc:  # a form that the features cannot use
        print(text("forms_error", detail=exc), file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:  # e.g. a platform enabled without all of its settings
        print(text("config_error_header"), file=sys.stderr)
        print(text("config_error_line", location="adapters", message=exc), file=sys.stderr)
        return EXIT_CONFIG


def _unreachable(exc: BaseException) -> bool:
    """Whether connecting to the database failed: it refused us (no such role or database, a
    wrong password), its host is unknown, it did not answer in time, every address of the host
    refused (asyncio's "Multiple exceptions"), or SQLite cannot open the file. Other database
    errors (a missing table, a failed statement) are not about reaching it."""
    if isinstance(exc, DBAPIError):
        return _unreachable(exc.orig) if isinstance(exc.orig, BaseException) else False
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str):
        return state.startswith(_REFUSED_STATES)
    if getattr(exc, "sqlite_errorname", None) == "SQLITE_CANTOPEN":
        return True
    if isinstance(exc, BrokenPipeError):
        return False
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return type(exc) is OSError and str(exc).startswith("Multiple exceptions")


def _reason(exc: BaseException) -> str:
    """The driver's own words (「role "x" does not exist」), without SQLAlchemy's SQL and links."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _masked(detail: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "***")
    return detail


def _run(args: argparse.Namespace, settings: Settings, text: CliText) -> int:
    if args.command == "chat":
        # The terminal is the conversation: keep routine log lines out of it.
        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
        return asyncio.run(_chat(settings, text, args.user))
    if args.command == "directory":
        return asyncio.run(_directory(args, settings, text))
    if args.command == "backup":
        return cli_ops.run_backup(settings, args, text)
    if args.command == "outbox":
        return asyncio.run(_outbox(args, settings, text))
    return asyncio.run(_serve(settings, text))


if __name__ == "__main__":
    sys.exit(main())
