"""``/dx export csv|xlsx``: files Excel opens, filters, and who may export what."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.adapters.base import Capabilities
from bot.clock import FrozenClock
from bot.messages import Attachment
from handlers import register as register_features
from storage.issues import AuditRecord
from tests.builders import make_event
from tests.harness import Harness, harness
from tests.seeds import add_issue

# 2026-12-01 10:00 JST: 令和8年度
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
GROUPS = [{"name": "窓口部会", "leaders": ["L1"], "sections": ["市民課"]}]
POLICY = {"users": ["P1"]}
HEADERS = [
    "番号",
    "業務名",
    "所属課",
    "状況",
    "部会",
    "推定削減時間(年間)",
    "賛同数",
    "現状の課題",
    "あるべき姿",
    "発生頻度",
    "1回の所要時間(分)",
    "職員数",
    "解決のアイデア",
    "連絡可",
    "報告者",
    "報告日",
]
# Excel must see one cell: a comma, a quote and a line break inside Japanese text.
TRICKY = '紙の申請書を、Excelに"手入力"で転記している\n2行目: 押印も3つ'


@asynccontextmanager
async def _bot(database_url: str, *, files: bool = True) -> AsyncIterator[Harness]:
    """Policy staff P1, leader L1 of 窓口部会; the relay can (or cannot) carry files."""
    async with harness(
        database_url,
        register=register_features,
        clock=FrozenClock(NOW),
        groups=GROUPS,
        policy=POLICY,
    ) as bot:
        bot.app.capabilities["relay"] = Capabilities(buttons=True, files=files)
        yield bot


async def _seed(bot: Harness) -> None:
    """R8-0001 (oldest) … R8-0003 (newest); R8-0002 belongs to no working group."""
    async with bot.runtime.sessions() as session, session.begin():
        await add_issue(session, at=NOW - timedelta(days=2), reporter="S1", group="窓口部会")
        await add_issue(
            session,
            at=NOW - timedelta(days=1),
            reporter="S2",
            section="税務課",
            status="triage",
            frequency="weekly",
            minutes=45,
        )
        newest = await add_issue(
            session,
            at=NOW,
            reporter="S3",
            group="窓口部会",
            title='=HYPERLINK("http://example.invalid")',
            problem=TRICKY,
        )
        newest.support_count = 4


async def _export(bot: Harness, text: str, user: str = "P1") -> tuple[list[str], Attachment | None]:
    sent = await bot.deliver(make_event(text, command="dx", user=user))
    files = [m.attachment for m in sent if m.attachment is not None]
    return [m.text for m in sent], files[0] if files else None


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    text = data[3:].decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert text.endswith("\r\n") and text.count("\r\n") == len(rows)  # CRLF ends each record
    return rows


async def test_csv_holds_every_visible_issue_newest_first(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        texts, file = await _export(bot, "export csv")
    assert file is not None
    assert file.filename == "dxbot-issues-2026-12-01.csv"
    assert file.content_type.startswith("text/csv")
    assert "3件" in texts[0] and "CSV" in texts[0]
    rows = _csv_rows(file.data)
    assert rows[0] == HEADERS
    assert [row[0] for row in rows[1:]] == ["R8-0003", "R8-0002", "R8-0001"]
    newest, queued = (
        dict(zip(HEADERS, rows[1], strict=True)),
        dict(zip(HEADERS, rows[2], strict=True)),
    )
    assert newest["現状の課題"] == TRICKY  # comma, quote and line break survive
    assert newest["業務名"].startswith("'=")  # never a formula in Excel
    assert newest["状況"] == "受付" and newest["部会"] == "窓口部会"
    assert newest["推定削減時間(年間)"] == "375" and newest["賛同数"] == "4"
    assert newest["発生頻度"] == "毎日" and newest["連絡可"] == "はい"
    assert newest["報告者"] == "職員S3" and newest["報告日"] == "2026-12-01"
    assert queued["状況"] == "課題整理" and queued["発生頻度"] == "毎週"
    assert queued["部会"].startswith("情報政策課")  # the policy queue, not a blank
    assert queued["1回の所要時間(分)"] == "45" and queued["解決のアイデア"] == ""


async def test_xlsx_has_a_bold_header_numbers_and_real_dates(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        _, file = await _export(bot, "export XLSX")
        async with bot.runtime.sessions() as session:
            audit = await session.scalar(
                select(AuditRecord).where(AuditRecord.action == "issues.exported")
            )
    assert file is not None and file.filename == "dxbot-issues-2026-12-01.xlsx"
    sheet = load_workbook(io.BytesIO(file.data)).active
    assert sheet is not None and sheet.title == "課題一覧"
    assert [cell.value for cell in sheet[1]] == HEADERS
    assert all(cell.font.bold for cell in sheet[1])
    row = {h: cell for h, cell in zip(HEADERS, sheet[2], strict=True)}
    assert row["番号"].value == "R8-0003"
    assert row["現状の課題"].value == TRICKY
    assert row["業務名"].value == '=HYPERLINK("http://example.invalid")'
    assert row["業務名"].data_type == "s"  # stored as text, not a formula
    assert row["推定削減時間(年間)"].value == 375 and row["賛同数"].value == 4
    assert isinstance(row["報告日"].value, datetime)
    assert row["報告日"].value.date().isoformat() == "2026-12-01"
    assert sheet.max_row == 4 and sheet.freeze_panes == "A2"
    assert (sheet.column_dimensions["H"].width or 0) > (sheet.column_dimensions["A"].width or 0)
    assert audit is not None and audit.actor_id == "P1"
    assert audit.detail == {"format": "xlsx", "count": 3, "filters": {}}


@pytest.mark.parametrize(
    ("args", "numbers"),
    [
        ("export csv status:受付", ["R8-0003", "R8-0001"]),
        ("export csv status:triage", ["R8-0002"]),
        ("export csv 状況：課題整理", ["R8-0002"]),  # full-width colon
        ("export csv　課：税務課", ["R8-0002"]),  # full-width space
        ("export csv section:市民課 group:窓口部会", ["R8-0003", "R8-0001"]),
        ("export status:受付 status:課題整理 csv", ["R8-0003", "R8-0002", "R8-0001"]),
        ("出力 csv 部会: 窓口部会", ["R8-0003", "R8-0001"]),  # alias; space after colon
    ],
)
async def test_filters(database_url: str, args: str, numbers: list[str]) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        _, file = await _export(bot, args)
    assert file is not None
    assert [row[0] for row in _csv_rows(file.data)[1:]] == numbers


async def test_unknown_status_lists_the_valid_ones(database_url: str) -> None:
    async with _bot(database_url) as bot:
        texts, file = await _export(bot, "export csv status:検討中")
    assert file is None
    assert "「検討中」という状況はありません" in texts[0]
    assert all(label in texts[0] for label in ("受付", "課題整理", "完了", "見送り"))


@pytest.mark.parametrize("args", ["export", "export pdf", "export csv xlsx", "export csv 色:赤"])
async def test_wrong_format_or_filter_gets_the_usage(database_url: str, args: str) -> None:
    async with _bot(database_url) as bot:
        texts, file = await _export(bot, args)
    assert file is None
    assert "使い方: /dx export csv" in texts[0]


async def test_nothing_to_export_says_so_instead_of_an_empty_file(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        texts, file = await _export(bot, "export csv status:完了")
    assert file is None
    assert texts == ["条件に合う課題はありません(出力できるのは、あなたが見られる課題です)。"]


async def test_staff_are_refused_politely(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        texts, file = await _export(bot, "export csv", user="S1")
    assert file is None
    assert texts == [
        "申し訳ありません。「/dx export」はDX推進リーダーの権限が必要なコマンドです。"
        "必要な場合は情報政策課にご相談ください。"
    ]


async def test_a_leader_gets_only_their_groups_issues(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        _, file = await _export(bot, "export csv", user="L1")
        _, other = await _export(bot, "export csv section:税務課", user="L1")
    assert file is not None
    assert [row[0] for row in _csv_rows(file.data)[1:]] == ["R8-0003", "R8-0001"]
    assert other is None  # 税務課's issue is in the policy queue, not theirs


async def test_english_speakers_get_english_headers_and_labels(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        await bot.command("lang en", user="P1")
        _, file = await _export(bot, "export csv status:received")
    assert file is not None
    rows = _csv_rows(file.data)
    assert rows[0][:4] == ["Number", "Work", "Section", "Status"]
    assert rows[1][3] == "Received" and rows[1][9] == "Daily" and rows[1][13] == "Yes"
