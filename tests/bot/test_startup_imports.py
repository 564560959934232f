"""`dxbot serve` loads nothing it does not use (benchmark item 6), even on a first start.

Each package below costs megabytes of resident memory in every server process: alembic only
migrates (in a child process when ``serve`` migrates SQLite itself), openpyxl only reads and
writes XLSX files, the platform SDKs only serve their own platform, and ``holidays`` was
replaced by a table (``bot.jp_holidays``). A process loads only its own database's driver and
SQLAlchemy dialect: sqlite3 alone is ~1 MB, PostgreSQL's dialect 2.2 MB.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from storage import migrate
from tests.builders import RELAY_SECRET

ROOT = Path(__file__).resolve().parents[2]
NOT_AT_START = (
    "alembic",
    "mako",
    "openpyxl",
    "numpy",
    "PIL",
    "matplotlib",
    "holidays",
    "slack_sdk",
    "jwt",
    "cryptography",
    "bot.adapters.slack",
    "bot.adapters.lineworks",
    "bot.adapters.matrix",
)
NOT_ON = {  # what belongs to the other database
    "sqlite": ("asyncpg", "sqlalchemy.dialects.postgresql"),
    "postgresql": (
        "sqlite3",
        "_sqlite3",
        "aiosqlite",
        "storage.sqlite_inline",
        "sqlalchemy.dialects.sqlite",
    ),
}
# Runs `dxbot serve` in the child; once it is healthy and has idled a moment (the jobs run at
# start), prints what is loaded, then stops the server the way an operator would (SIGTERM).
CHILD = """
import json, os, signal, sys, threading, time, urllib.request
from bot import cli

def watch():
    url = "http://127.0.0.1:%s/healthz" % os.environ["DXBOT_HTTP_PORT"]
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(1)
    print(json.dumps(sorted(sys.modules)), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
sys.exit(cli.main(["serve"]))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loaded_by_serve(url: str) -> set[str]:
    """The modules a ``dxbot serve`` child on ``url`` had loaded once idle."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DXBOT_DATABASE_URL": url,
        "DXBOT_HTTP_PORT": str(_free_port()),
        "DXBOT_RELAY_SECRET": RELAY_SECRET,
        "DXBOT_RELAY_OUTBOUND_URL": "http://127.0.0.1:9/",
        "DXBOT_LOGGING_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "bot.server" in loaded and "handlers" in loaded  # it really served
    return loaded


def _unused(loaded: set[str], database: str) -> set[str]:
    unused = NOT_AT_START + NOT_ON[database]
    found = {name for name in loaded if name.partition(".")[0] in unused}
    return found | {name for name in unused if name in loaded}


async def test_serve_on_a_current_schema_loads_no_unused_package(database_url: str) -> None:
    # migrated, so that the server finds the schema current; blocking, as the child is the
    # server under test
    loaded = _loaded_by_serve(database_url)
    assert not _unused(loaded, database_url.partition("+")[0])


def test_first_start_migrates_sqlite_without_loading_alembic(tmp_path: Path) -> None:
    """A town's first day: ``serve`` creates and migrates the file, in a child process."""
    path = tmp_path / "new-town.db"
    loaded = _loaded_by_serve(f"sqlite+aiosqlite:///{path}")
    assert not _unused(loaded, "sqlite")
    with closing(sqlite3.connect(path)) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == migrate.head_revision()
