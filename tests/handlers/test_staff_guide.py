"""The sample conversation in docs/guide-staff.md is produced by this test, so it stays true.

Run with ``DXBOT_WRITE_GUIDE=1`` to rewrite the sample after changing the form or texts.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.clock import FrozenClock
from tests.handlers.test_reports import NOW
from tests.harness import harness

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide-staff.md"
START, END = "<!-- sample:start -->", "<!-- sample:end -->"

SCRIPT = [
    "課題を報告",
    "市民",
    "はい",
    "住民票の交付",
    "紙",
    "紙の申請書をExcelに手入力で転記している",
    "申請がはじめからデータで届き、転記しなくてよくなる",
    "1",
    "３０分",
    "３人",
    "スキップ",
    "はい",
    "2を修正",
    "住民票の写しの交付",
    "送信",
]


async def _transcript(database_url: str) -> str:
    lines: list[str] = []
    async with harness(database_url, clock=FrozenClock(NOW), buttons=False) as bot:
        for text in SCRIPT:
            lines.append(f"あなた> {text}")
            for answer in await bot.say(text):
                lines.append("dxbot> " + answer.replace("\n", "\n       "))
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines())


async def test_guide_shows_a_real_conversation(tmp_path: Path) -> None:
    transcript = await _transcript(f"sqlite+aiosqlite:///{tmp_path / 'guide.db'}")
    guide = GUIDE.read_text(encoding="utf-8")
    head, _, rest = guide.partition(START)
    _, _, tail = rest.partition(END)
    block = f"{START}\n```text\n{transcript}\n```\n{END}"
    if os.environ.get("DXBOT_WRITE_GUIDE"):
        GUIDE.write_text(head + block + tail, encoding="utf-8")
    assert block in GUIDE.read_text(encoding="utf-8"), "run with DXBOT_WRITE_GUIDE=1"
