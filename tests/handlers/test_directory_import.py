"""`dxbot directory import|export`: the Excel directory, checked row by row, all or nothing.

Files live in tests/data/directory/ (UTF-8); the Shift_JIS, BOM and XLSX variants are made
here from the same rows, the way Excel would save them.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from bot.clock import FrozenClock
from bot.i18n import Catalog
from config.settings import Settings
from handlers.directory import working_groups
from handlers.directory_import import ImportOutcome, ImportRequest, import_directory, report_line
from storage.directory import WorkingGroup, staff_directory
from storage.issues import AuditRecord, Issue, Section
from tests.conftest import fast_settings
from tests.harness import Harness, harness
from tests.seeds import REPORT_ANSWERS, add_issue

DATA = Path(__file__).resolve().parents[1] / "data" / "directory"
STAFF, GROUPS, ERRORS = DATA / "staff.csv", DATA / "groups.csv", DATA / "staff_errors.csv"
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 令和8年度
CATALOG = Catalog.load()


async def _import(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, path: Path, **kw: Any
) -> ImportOutcome:
    request = ImportRequest(path=path, **kw)
    return await import_directory(sessions, settings, request, catalog=CATALOG, now=NOW)


def _lines(outcome: ImportOutcome) -> list[str]:
    return [report_line(CATALOG, "ja", p) for p in outcome.problems]


def _counts(outcome: ImportOutcome) -> dict[str, tuple[int, int, int]]:
    assert outcome.result is not None, _lines(outcome)
    return {
        kind: (tally.added, tally.updated, tally.unchanged)
        for kind, tally in (
            ("staff", outcome.result.staff),
            ("groups", outcome.result.groups),
            ("sections", outcome.result.sections),
        )
    }


async def _count(sessions: async_sessionmaker[AsyncSession], what: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(what)) or 0)


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text(encoding="utf-8").splitlines()))


def _workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


async def test_dry_run_reports_every_problem_by_row_and_column_and_changes_nothing(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    outcome = await _import(
        sessions, fast_settings(database_url), ERRORS, groups_path=GROUPS, dry_run=True
    )
    assert outcome.result is None and not outcome.written
    assert _lines(outcome) == [
        "staff_errors.csv 3行目「ユーザーID」: ユーザーIDが空です。",
        "staff_errors.csv 4行目「役割」: 役割「課長」は使えません"
        "(使える役割: 職員 / DX推進リーダー / 情報政策課 / 管理者)。",
        "staff_errors.csv 5行目「ユーザーID」: ユーザーID「L1」が2行目と重複しています。",
        "staff_errors.csv 6行目「所属課」: 所属課が空です。",
        "staff_errors.csv 6行目「言語」: 言語「fr」は使えません"
        "(ja / en のどれかを書くか、空欄にしてください)。",
        "staff_errors.csv 8行目「部会」: 部会「福祉部会」は"
        "部会シートにも登録済みの部会にもありません。部会シートに加えるか、部会名を直してください。",
    ]
    assert await _count(sessions, staff_directory) == 0
    assert await _count(sessions, WorkingGroup) == 0


async def test_one_bad_row_imports_nothing_at_all(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    bad = tmp_path / "staff.csv"
    bad.write_text(STAFF.read_text(encoding="utf-8") + "S9,新人,市民課,係長,,\n", encoding="utf-8")
    outcome = await _import(sessions, fast_settings(database_url), bad, groups_path=GROUPS)
    assert [p.row for p in outcome.problems] == [8] and not outcome.written
    for table in (staff_directory, WorkingGroup, Section, AuditRecord):
        assert await _count(sessions, table) == 0  # the valid rows and groups too


async def test_reimporting_the_same_file_changes_nothing(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = fast_settings(database_url)
    first = await _import(sessions, settings, STAFF, groups_path=GROUPS)
    assert first.written
    assert _counts(first) == {"staff": (6, 0, 0), "groups": (3, 0, 0), "sections": (4, 0, 0)}
    again = await _import(sessions, settings, STAFF, groups_path=GROUPS)
    assert not again.written
    assert _counts(again) == {"staff": (0, 0, 6), "groups": (0, 0, 3), "sections": (0, 0, 4)}
    async with sessions() as session:
        audits = list(await session.scalars(select(AuditRecord.action)))
    assert audits == ["directory.imported"]  # the no-op import left no trace either


async def test_a_dry_run_counts_what_the_import_would_do(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = fast_settings(database_url)
    dry = await _import(sessions, settings, STAFF, groups_path=GROUPS, dry_run=True)
    assert _counts(dry)["staff"] == (6, 0, 0) and not dry.written
    assert await _count(sessions, staff_directory) == 0


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
async def test_csv_in_utf8_with_or_without_bom_and_in_shift_jis(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, encoding: str
) -> None:
    staff, groups = tmp_path / "職員.csv", tmp_path / "部会.csv"
    # Excel on Windows writes CRLF; Shift_JIS when saved as 「CSV(コンマ区切り)」.
    staff.write_bytes(STAFF.read_text(encoding="utf-8").replace("\n", "\r\n").encode(encoding))
    groups.write_bytes(GROUPS.read_text(encoding="utf-8").encode(encoding))
    outcome = await _import(sessions, fast_settings(database_url), staff, groups_path=groups)
    assert _counts(outcome)["staff"] == (6, 0, 0)
    async with sessions() as session:
        names = set(await session.scalars(select(staff_directory.c.display_name)))
        led = await working_groups(session, fast_settings(database_url))
    assert {"佐藤 一郎", "鈴木 美咲", "渡辺 誠"} <= names
    assert [(g.name, g.leaders) for g in led] == [
        ("窓口部会", ["L1"]),
        ("ペーパーレス部会", ["L2"]),
        ("庁内チャット部会", ["L2"]),
    ]


async def test_unknown_encoding_and_file_kind_are_explained(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    settings = fast_settings(database_url)
    euc = tmp_path / "staff.csv"
    euc.write_bytes("ユーザーID,氏名\n".encode("utf-16"))
    [problem] = (await _import(sessions, settings, euc)).problems
    assert "文字コードを判別できません" in problem.reason and "Shift_JIS" in problem.reason
    [wrong] = (await _import(sessions, settings, tmp_path / "名簿.xls")).problems
    assert "CSV(.csv)か Excel(.xlsx)" in wrong.reason
    [missing] = (await _import(sessions, settings, tmp_path / "none.csv")).problems
    assert "ファイルが見つかりません" in missing.reason


async def test_xlsx_with_staff_and_group_sheets(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = _workbook(
        tmp_path / "名簿.xlsx",
        {
            "説明": [["この名簿は情報政策課が管理します"]],  # sheets are found by name
            "部会": [
                ["部会名", "チャンネル", "担当課", "キーワード"],
                ["窓口部会", "room-madoguchi", "市民課、税務課", "窓口\n予約"],  # Alt+Enter
            ],
            "職員": [
                ["氏名", "ユーザーID", "所属課", "役割", "部会", "備考"],  # any order, extras
                ["佐藤 一郎", "L1", "市民課", "DX推進リーダー", "窓口部会", "R8.4〜"],
                [None, None, None, None, None, None],
                ["職員 番号", 10023, "税務課", "staff", None, None],  # an id typed as a number
            ],
        },
    )
    outcome = await _import(sessions, fast_settings(database_url), path)
    assert _counts(outcome) == {"staff": (2, 0, 0), "groups": (1, 0, 0), "sections": (2, 0, 0)}
    async with sessions() as session:
        ids = set(await session.scalars(select(staff_directory.c.external_id)))
        [group] = await working_groups(session, fast_settings(database_url))
    assert ids == {"L1", "10023"}
    assert group.keywords == ["窓口", "予約"] and group.adapter == "relay"


async def test_english_headers_and_role_names_are_accepted(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "user_id,name,section,role,groups,language\n"
        "ｕ１,Hanako Tanaka,市民課,policy,,EN\n"
        "U2,Ichiro Sato,税務課,ICT推進リーダー,,\n",
        encoding="utf-8",
    )
    outcome = await _import(sessions, fast_settings(database_url), path)
    assert _counts(outcome)["staff"] == (2, 0, 0)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    staff_directory.c.external_id, staff_directory.c.role, staff_directory.c.locale
                )
            )
        ).all()
    assert sorted(rows) == [("U2", "leader", None), ("u1", "policy", "en")]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_export_then_import_changes_nothing(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, kind: str
) -> None:
    from handlers.directory_export import export_directory

    settings = fast_settings(database_url)
    await _import(sessions, settings, STAFF, groups_path=GROUPS)
    path, groups = tmp_path / f"export.{kind}", tmp_path / "groups.csv"
    counts = await export_directory(
        sessions, path, groups_path=groups, adapter="relay", catalog=CATALOG, locale="ja"
    )
    assert (counts.staff, counts.groups) == (6, 3)
    again = await _import(sessions, settings, path, groups_path=None if kind == "xlsx" else groups)
    assert _counts(again) == {"staff": (0, 0, 6), "groups": (0, 0, 3), "sections": (0, 0, 4)}
    if kind == "csv":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
        assert _rows(path)[0][0] == "\ufeffユーザーID"
        assert _rows(path)[2][:4] == ["L2", "鈴木 美咲", "総務課", "DX推進リーダー"]
    else:
        book = load_workbook(path)
        assert book.sheetnames == ["職員", "部会"]
        assert book["部会"]["D2"].value == "市民課、税務課"


async def test_staff_missing_from_the_file_are_kept_unless_asked(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    settings = fast_settings(database_url)
    await _import(sessions, settings, STAFF, groups_path=GROUPS)
    fewer = _without(tmp_path, "L1")
    kept = await _import(sessions, settings, fewer)
    assert _counts(kept)["staff"] == (0, 0, 5)
    retired = await _import(sessions, settings, fewer, deactivate_missing=True)
    assert retired.result is not None and retired.result.staff.deactivated == 1
    async with sessions() as session:
        active = dict(
            (
                await session.execute(
                    select(staff_directory.c.external_id, staff_directory.c.active)
                )
            ).all()
        )
        [madoguchi, *_] = await working_groups(session, settings)
    assert active["L1"] is False and active["S1"] is True
    assert madoguchi.leaders == []


async def test_directory_groups_override_configured_ones_of_the_same_name(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = fast_settings(
        database_url,
        groups=[
            {"name": "庁内DX部会", "channel": "room-dx", "leaders": ["X1"]},
            {"name": "窓口部会", "channel": "old-room", "leaders": ["X9"]},
        ],
    )
    await _import(sessions, settings, STAFF, groups_path=GROUPS)
    async with sessions() as session:
        groups = await working_groups(session, settings)
    assert [(g.name, g.channel) for g in groups] == [
        ("庁内DX部会", "room-dx"),
        ("窓口部会", "room-madoguchi"),  # the directory's, in the configured place
        ("ペーパーレス部会", "room-paper"),
        ("庁内チャット部会", "room-chat"),
    ]


async def test_a_group_only_in_the_settings_file_is_named_as_such(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    settings = fast_settings(database_url, groups=[{"name": "福祉部会", "leaders": ["X1"]}])
    path = tmp_path / "staff.csv"
    path.write_text(
        "ユーザーID,氏名,所属課,役割,部会\nS3,山本 翔,福祉課,DX推進リーダー,福祉部会\n",
        encoding="utf-8",
    )
    [problem] = (await _import(sessions, settings, path)).problems
    assert problem.row == 2 and "設定ファイル([[groups]])にだけあります" in problem.reason


async def test_groups_sheet_problems(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "部会名,チャンネル,アダプター,担当課\n"  # the column's older header is still read
        "窓口部会,room-a,relay,市民課\n"
        "窓口部会,room-b,relay,\n"
        "ペーパーレス部会,room-c,LoGo チャット,市民課\n"
        ",room-d,,\n",
        encoding="utf-8",
    )
    outcome = await _import(sessions, fast_settings(database_url), STAFF, groups_path=groups)
    assert [(p.sheet, p.row, p.column) for p in outcome.problems] == [
        ("groups.csv", 3, "部会名"),  # the same group twice
        ("groups.csv", 4, "担当課"),  # 市民課 is routed to 窓口部会 already
        ("groups.csv", 4, "チャットの種類"),
        ("groups.csv", 5, "部会名"),  # empty
        ("staff.csv", 3, "部会"),  # L2 leads groups this file no longer has
    ]
    assert "市民課" in outcome.problems[1].reason and "窓口部会" in outcome.problems[1].reason


# ── behaviour: the directory is used everywhere the configured groups were ──


async def _load(bot: Harness, *paths: Path, **kw: Any) -> None:
    outcome = await _import(bot.runtime.sessions, bot.app.settings, *paths, **kw)
    assert not outcome.problems, _lines(outcome)


async def test_a_directory_leader_can_move_their_groups_issue(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, clock=FrozenClock(NOW)) as bot:  # no [[groups]] at all
        await _load(bot, STAFF, groups_path=GROUPS)
        async with bot.runtime.sessions() as session, session.begin():
            await add_issue(session, at=NOW, reporter="S1", group="窓口部会")  # R8-0001
            await add_issue(session, at=NOW, reporter="S2", group="ペーパーレス部会")  # R8-0002
        who = await bot.command("whoami", user="L1", name="さとう")
        assert "佐藤 一郎" in who[0] and "DX推進リーダー" in who[0] and "窓口部会" in who[0]
        before = len(bot.sender.sent)
        moved = await bot.command("move R8-0001 課題整理 次回の部会で検討", user="L1")
        assert "「受付」から「課題整理」に変更しました" in moved[-1]
        told = {m.conversation_id or f"user:{m.user_id}" for _, m in bot.sender.sent[before:]}
        assert {"user:S1", "room-madoguchi"} <= told
        refused = await bot.command("move R8-0002 課題整理", user="L1")
        assert "権限がありません" in refused[0]
        # Leaving the directory takes the rights with it.
        await _load(bot, _without(tmp_path, "L1"), deactivate_missing=True)
        gone = await bot.command("move R8-0001 解決策検討", user="L1")
        assert any("の権限が必要な" in text for text in gone)


def _without(tmp_path: Path, user: str) -> Path:
    """The sample staff file without one person (who has left)."""
    path = tmp_path / "staff.csv"
    lines = STAFF.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(x for x in lines if not x.startswith(f"{user},")), encoding="utf-8")
    return path


async def test_a_report_from_a_directory_section_goes_to_that_groups_channel_and_leaders(
    database_url: str,
) -> None:
    configured = [{"name": "窓口部会", "channel": "old-room", "leaders": ["X9"]}]
    async with harness(database_url, clock=FrozenClock(NOW), groups=configured) as bot:
        await _load(bot, STAFF, groups_path=GROUPS)
        await bot.say("課題を報告", user="S1")
        for answer in REPORT_ANSWERS:
            await bot.say(answer, user="S1")
        before = len(bot.sender.sent)
        receipt = await bot.say("送信", user="S1")
        assert "R8-0001" in receipt[0] and "窓口部会" in receipt[0]
        told = {m.conversation_id or f"user:{m.user_id}" for _, m in bot.sender.sent[before:]}
        async with bot.runtime.sessions() as session:
            issue = await session.scalar(select(Issue))
    assert issue is not None and issue.working_group == "窓口部会"
    assert {"room-madoguchi", "user:L1"} <= told
    assert not {"old-room", "user:X9"} & told  # the directory's group replaced the configured one


# ── the command line ──


def test_cli_dry_run_prints_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'town.db'}")
    monkeypatch.delenv("DXBOT_CONFIG", raising=False)
    errors = shutil.copy(ERRORS, tmp_path / "staff.csv")
    assert main(["directory", "import", str(STAFF), "--dry-run"]) == 7  # no database yet
    assert "先に「dxbot migrate」を実行します" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    code = main(["directory", "import", str(errors), "--groups", str(GROUPS), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 5
    assert "確認のみ: 誤りが6件あります" in out
    assert "staff.csv 4行目「役割」: 役割「課長」は使えません" in out

    assert main(["directory", "import", str(STAFF), "--groups", str(GROUPS), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "確認のみ(何も変更していません)" in out and "・職員: 追加 6、更新 0" in out
    assert main(["directory", "import", str(STAFF), "--groups", str(GROUPS)]) == 0
    assert "名簿を取り込みました" in capsys.readouterr().out
    assert main(["directory", "import", str(STAFF)]) == 0
    out = capsys.readouterr().out
    assert "変更はありません" in out and "変更なし 6" in out and "部会シートがないため" in out

    exported = tmp_path / "名簿.xlsx"
    assert main(["directory", "export", str(exported)]) == 0
    assert "職員 6人、部会 3件" in capsys.readouterr().out
    assert main(["directory", "import", str(exported)]) == 0
    assert "変更はありません" in capsys.readouterr().out


def test_cli_refused_import_goes_to_stderr_with_exit_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'town.db'}")
    monkeypatch.delenv("DXBOT_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    assert main(["directory", "import", str(ERRORS)]) == 5
    captured = capsys.readouterr()
    assert "何も取り込んでいません" in captured.err and "3行目「ユーザーID」" in captured.err

    async def staff_rows() -> int:
        from storage.engine import create_engine, session_factory

        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'town.db'}")
        try:
            return await _count(session_factory(engine), staff_directory)
        finally:
            await engine.dispose()

    assert asyncio.run(staff_rows()) == 0
