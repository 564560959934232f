"""The closed-network install, as docs/operations.md describes it: wheelhouse, --no-index.

It downloads from the package index, so it runs only when DXBOT_TEST_OFFLINE_INSTALL=1
(.ci/run sets it); elsewhere it skips with that reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("DXBOT_TEST_OFFLINE_INSTALL") != "1",
    reason="needs the package index to build the wheelhouse; set DXBOT_TEST_OFFLINE_INSTALL=1",
)


def _run(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_install_from_a_wheelhouse_without_the_index(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    _run(sys.executable, "-m", "pip", "download", "-q", "-d", wheelhouse, ROOT)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheelhouse, ROOT)
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    pip = target / "bin" / "pip"
    _run(pip, "install", "-q", "--no-index", "--find-links", wheelhouse, "dxbot")
    env = {
        "PATH": str(target / "bin"),
        "DXBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'town.db'}",
        "HOME": str(tmp_path),
    }
    checked = _run(target / "bin" / "dxbot", "config", "check", env=env, cwd=tmp_path)
    assert "問題はありません" in checked.stdout
    chat = _run(
        target / "bin" / "dxbot", "chat", "--user", "田中", input="ヘルプ\n", env=env, cwd=tmp_path
    )
    assert "できること" in chat.stdout
    # The wheel carries the schema snapshot (package data), so a new file needs no migration.
    assert "no schema snapshot" not in chat.stdout + chat.stderr
