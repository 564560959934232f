"""Files for platforms that cannot attach them: a secret link, served over HTTP for 15 minutes."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.adapters.base import Capabilities
from bot.app import App
from bot.clock import FrozenClock
from bot.context import Context
from bot.downloads import offer_file
from bot.server import content_disposition
from handlers import export
from handlers import register as register_features
from storage.downloads import Download
from tests.builders import make_event
from tests.edge import Edge, edge
from tests.harness import harness
from tests.seeds import add_issue

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
SAMPLE = "番号,業務名\r\nR8-0001,住民票の交付\r\n".encode("utf-8-sig")
SAMPLE_NAME = "課題一覧 2026.csv"
LINK = re.compile(r"(https?://\S+)/downloads/([A-Za-z0-9_-]+)")


def _with_sample(app: App) -> None:
    """The features, export, and ``/dx sample`` offering a known file (bytes to compare)."""
    register_features(app)
    export.register(app)

    @app.subcommand("sample")
    async def sample(ctx: Context) -> None:
        await offer_file(
            ctx,
            SAMPLE_NAME,
            "text/csv; charset=utf-8",
            SAMPLE,
            text_key="export.ready",
            count=1,
            format="CSV",
        )


def _link(text: str) -> tuple[str, str]:
    found = LINK.search(text)
    assert found is not None, text
    return found.group(1), found.group(2)


async def _fetch(bot: Edge, token: str) -> tuple[int, bytes, dict[str, str]]:
    async with bot.client.get(f"/downloads/{token}") as resp:
        return resp.status, await resp.read(), dict(resp.headers)


async def _downloads(bot: Edge) -> list[Download]:
    async with bot.runtime.sessions() as session:
        return list(await session.scalars(select(Download).order_by(Download.id)))


async def test_a_relay_without_files_gets_a_link_that_serves_the_exact_bytes(
    database_url: str,
) -> None:
    async with edge(database_url, register=_with_sample, clock=FrozenClock(NOW)) as bot:
        said = await bot.command("sample")
        base, token = _link(said[0])
        status, body, headers = await _fetch(bot, token)
        stored = await _downloads(bot)
    assert said[0].startswith("課題の一覧を出力しました(1件、CSV形式)。")
    assert "15分" in said[0]
    assert base == "http://127.0.0.1:8080"  # no public_url: the listening address
    assert status == 200 and body == SAMPLE
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Disposition"] == (
        'attachment; filename="____ 2026.csv"; '
        "filename*=UTF-8''%E8%AA%B2%E9%A1%8C%E4%B8%80%E8%A6%A7%202026.csv"
    )
    # Only the token's hash is kept: a copy of the database opens no link.
    assert [row.token_hash for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert stored[0].created_by_id == "U001"


async def test_an_expired_link_is_a_json_404(database_url: str) -> None:
    clock = FrozenClock(NOW)
    async with edge(database_url, register=_with_sample, clock=clock) as bot:
        _, token = _link((await bot.command("sample"))[0])
        clock.advance(minutes=14)
        fresh, _, _ = await _fetch(bot, token)
        clock.advance(minutes=2)
        expired = await bot.get(f"/downloads/{token}")
    assert fresh == 200
    assert expired.status == 404
    assert expired.body["ok"] is False and expired.body["error"] == "not_found"


async def test_a_wrong_token_is_a_json_404(database_url: str) -> None:
    async with edge(database_url, register=_with_sample, clock=FrozenClock(NOW)) as bot:
        _, token = _link((await bot.command("sample"))[0])
        wrong = await bot.get(f"/downloads/{token[:-1]}x")
        empty = await bot.get("/downloads/")
    assert wrong.status == 404 and wrong.body["error"] == "not_found"
    assert empty.status == 404 and empty.body["ok"] is False


async def test_expired_files_are_dropped_when_the_next_one_is_stored(database_url: str) -> None:
    clock = FrozenClock(NOW)
    async with edge(database_url, register=_with_sample, clock=clock) as bot:
        await bot.command("sample")
        await bot.command("sample")
        clock.advance(minutes=16)
        _, token = _link((await bot.command("sample"))[0])
        left = await _downloads(bot)
    assert [row.token_hash for row in left] == [hashlib.sha256(token.encode()).hexdigest()]


async def test_an_export_over_the_relay_arrives_as_a_link(database_url: str) -> None:
    clock = FrozenClock(NOW)
    async with edge(
        database_url, register=_with_sample, clock=clock, policy={"users": ["U001"]}
    ) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            await add_issue(session, at=NOW, reporter="S1", problem="転記が多い、手入力\n押印も")
        said = await bot.command("export csv")
        _, token = _link(said[0])
        status, body, headers = await _fetch(bot, token)
        [stored] = await _downloads(bot)
    assert status == 200 and body == stored.data
    assert headers["Content-Disposition"].endswith("filename*=UTF-8''dxbot-issues-2026-12-01.csv")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == "番号" and rows[1][0] == "R8-0001"
    assert rows[1][7] == "転記が多い、手入力\n押印も"


async def test_public_url_names_the_link_and_files_capable_platforms_get_attachments(
    database_url: str,
) -> None:
    http = {"public_url": "https://dxbot.town.lg.jp/"}
    async with harness(
        database_url, register=_with_sample, clock=FrozenClock(NOW), http=http
    ) as bot:
        linked = await bot.command("sample")
        bot.app.capabilities["relay"] = Capabilities(files=True)
        attached = await bot.deliver(make_event("sample", command="dx"))
        async with bot.runtime.sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(Download))
    base, _ = _link(linked[0])
    assert base == "https://dxbot.town.lg.jp"
    assert attached[0].attachment is not None
    assert attached[0].attachment.data == SAMPLE
    assert attached[0].attachment.filename == SAMPLE_NAME
    assert "ファイル: 課題一覧 2026.csv" in attached[0].text
    assert stored == 1  # only the linked one


def test_content_disposition_keeps_ascii_names_and_escapes_the_fallback() -> None:
    assert content_disposition("dxbot-issues-2026-12-01.xlsx") == (
        'attachment; filename="dxbot-issues-2026-12-01.xlsx"; '
        "filename*=UTF-8''dxbot-issues-2026-12-01.xlsx"
    )
    assert content_disposition('a"b\\c;.csv') == (
        "attachment; filename=\"a_b_c;.csv\"; filename*=UTF-8''a%22b%5Cc%3B.csv"
    )
