"""The HTTP edge, driven with real signed requests: ack only what is stored, JSON errors only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.adapters.relay import SIGNATURE_HEADER, TIMESTAMP_HEADER, RelayAdapter
from bot.app import App
from bot.context import Context
from bot.intake import Intake
from bot.messages import Choice
from bot.runtime import Runtime
from handlers import register as register_features
from storage.engine import create_engine, session_factory
from tests.builders import RELAY_SECRET, encode, relay_payload, signed_headers
from tests.conftest import fast_settings
from tests.edge import MAX_BODY, Reply, edge, read_reply, start_client

HELP_MARK = "できること"


def _with_colours(app: App) -> None:
    register_features(app)

    @app.message(r"^色$")
    async def ask_colour(ctx: Context) -> None:
        await ctx.say(
            "どの色?", choices=[Choice("赤", "colour", "red"), Choice("青", "colour", "blue")]
        )

    @app.action("colour")
    async def picked(ctx: Context) -> None:
        await ctx.say(f"picked:{ctx.event.value}")


def _assert_error(reply: Reply, status: int, error: str) -> None:
    assert reply.status == status
    assert reply.body["ok"] is False
    assert reply.body["error"] == error
    assert reply.body["message"]


# -- accepted events ---------------------------------------------------------------------


async def test_good_message_is_stored_acked_and_answered_in_japanese(database_url: str) -> None:
    payload = relay_payload(text="ヘルプ", user="U100")
    async with edge(database_url) as bot:
        reply = await bot.post(payload)
        rows = await bot.inbox()
        await bot.settle()
        after = await bot.inbox()
    assert reply.status == 200
    assert reply.body == {"ok": True}
    assert [(r.adapter, r.event_id) for r in rows] == [("relay", payload["event_id"])]
    assert rows[0].payload["text"] == "ヘルプ"
    assert rows[0].payload["user"]["id"] == "U100"
    assert after[0].status == "done"
    [delivery] = bot.platform.deliveries
    assert HELP_MARK in delivery.body["text"]
    assert "/dx help" in delivery.body["text"]
    assert delivery.body["conversation_id"] == "dm-U100"
    assert delivery.authorization == f"Bearer {bot.platform.token}"


async def test_ack_does_not_wait_for_handling(database_url: str) -> None:
    async with edge(database_url) as bot:
        reply = await bot.post(relay_payload(text="ヘルプ"))
        rows = await bot.inbox()
        sent_before_handling = list(bot.platform.deliveries)
    assert reply.status == 200 and reply.body == {"ok": True}
    assert [r.status for r in rows] == ["pending"]
    assert rows[0].handled_at is None
    assert sent_before_handling == []


async def test_duplicate_delivery_is_acked_and_handled_once(database_url: str) -> None:
    payload = relay_payload(text="ヘルプ")
    async with edge(database_url) as bot:
        first = await bot.post(payload)
        second = await bot.post(payload)
        await bot.settle()
        third = await bot.post(payload)  # a late redelivery after handling
        handled_again = await bot.runtime.worker.handle_pending()
        await bot.runtime.dispatcher.drain(5)
        rows = await bot.inbox()
    assert first.body == {"ok": True}
    assert second.status == 200 and second.body == {"ok": True, "duplicate": True}
    assert third.status == 200 and third.body == {"ok": True, "duplicate": True}
    assert len(rows) == 1
    assert handled_again == 0
    assert len(bot.platform.deliveries) == 1


async def test_command_round_trip(database_url: str) -> None:
    payload = relay_payload("command", command="/dx", text="help", user="U200")
    async with edge(database_url) as bot:
        reply = await bot.post(payload)
        rows = await bot.inbox()
        await bot.settle()
    assert reply.status == 200 and reply.body == {"ok": True}
    assert rows[0].payload["type"] == "command"
    assert rows[0].payload["command"] == "dx"
    assert rows[0].payload["text"] == "help"
    assert HELP_MARK in bot.platform.texts[0]


async def test_action_round_trip_from_offered_buttons(database_url: str) -> None:
    async with edge(database_url, register=_with_colours) as bot:
        asked = await bot.post(relay_payload(text="色", user="U300"))
        await bot.settle()
        [question] = bot.platform.deliveries
        red = question.body["choices"][0]
        pressed = await bot.post(
            relay_payload("action", user="U300", value=red["value"], message_id="r1")
        )
        rows = await bot.inbox()
        await bot.settle()
    assert asked.status == pressed.status == 200
    assert question.body["choices"] == [
        {"label": "赤", "value": "colour:red"},
        {"label": "青", "value": "colour:blue"},
    ]
    assert rows[-1].payload["type"] == "action"
    assert rows[-1].payload["action_id"] == "colour"
    assert rows[-1].payload["message_id"] == "r1"
    assert bot.platform.texts[1:] == ["picked:red"]


async def test_body_of_exactly_the_limit_is_accepted(database_url: str) -> None:
    payload = relay_payload(text="")
    payload["text"] = "a" * (MAX_BODY - len(encode(payload)))
    body = encode(payload)
    assert len(body) == MAX_BODY
    async with edge(database_url) as bot:
        reply = await bot.post(body)
        rows = await bot.inbox()
    assert reply.status == 200 and reply.body == {"ok": True}
    assert len(rows) == 1


# -- rejected requests -------------------------------------------------------------------


async def test_bad_signature_is_401_json_and_not_stored(database_url: str) -> None:
    body = encode(relay_payload())
    async with edge(database_url) as bot:
        wrong_secret = await bot.post(body, headers=signed_headers(body, secret="wrong"))
        other_body = await bot.post(body, headers=signed_headers(encode(relay_payload())))
        unsigned = await bot.post(body, headers={"Content-Type": "application/json"})
        rows = await bot.inbox()
    for reply in (wrong_secret, other_body, unsigned):
        _assert_error(reply, 401, "bad_signature")
    assert rows == []


async def test_stale_timestamp_is_401(database_url: str) -> None:
    body = encode(relay_payload())
    async with edge(database_url) as bot:
        stale = await bot.post(body, headers=signed_headers(body, timestamp=int(time.time()) - 400))
        rows = await bot.inbox()
    _assert_error(stale, 401, "bad_signature")
    assert "window" in stale.body["message"]
    assert rows == []


async def test_malformed_json_is_400_naming_body(database_url: str) -> None:
    async with edge(database_url) as bot:
        broken = await bot.post(b'{"event_id": "e1", ')
        array = await bot.post(b"[]")
        rows = await bot.inbox()
    for reply in (broken, array):
        _assert_error(reply, 400, "bad_request")
        assert reply.body["field"] == "body"
    assert rows == []


@pytest.mark.parametrize(
    ("path", "field"),
    [("user.id", "user.id"), ("event_id", "event_id"), ("conversation.kind", "conversation.kind")],
)
async def test_missing_field_is_400_naming_it(database_url: str, path: str, field: str) -> None:
    payload = relay_payload()
    *parents, leaf = path.split(".")
    node = payload
    for part in parents:
        node = node[part]
    del node[leaf]
    async with edge(database_url) as bot:
        reply = await bot.post(payload)
        rows = await bot.inbox()
    _assert_error(reply, 400, "bad_request")
    assert reply.body["field"] == field
    assert rows == []


async def test_body_over_the_limit_is_413_with_content_length(database_url: str) -> None:
    body = encode(relay_payload(text="a" * (MAX_BODY * 2)))
    async with edge(database_url) as bot:
        reply = await bot.post(body)
        rows = await bot.inbox()
    _assert_error(reply, 413, "too_large")
    assert str(MAX_BODY) in reply.body["message"]
    assert rows == []


async def test_body_over_the_limit_is_413_when_chunked(database_url: str) -> None:
    body = encode(relay_payload(text="a" * (MAX_BODY * 2)))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    async with edge(database_url) as bot:
        sent = bot.client.post("/hooks/relay", data=chunks(), headers=signed_headers(body))
        async with sent as resp:
            assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
            assert "Content-Length" not in resp.request_info.headers
            reply = Reply(resp.status, await resp.json(), resp.headers)
        rows = await bot.inbox()
    _assert_error(reply, 413, "too_large")
    assert rows == []


async def test_unknown_adapter_is_404_json(database_url: str) -> None:
    body = encode(relay_payload())
    async with edge(database_url) as bot:
        reply = await bot.post(body, path="/hooks/slack")
        nowhere = await bot.get("/nowhere")
    _assert_error(reply, 404, "unknown_adapter")
    assert "slack" in reply.body["message"]
    _assert_error(nowhere, 404, "not_found")


async def test_get_on_the_hook_is_405_json(database_url: str) -> None:
    async with edge(database_url) as bot:
        reply = await bot.get("/hooks/relay")
    _assert_error(reply, 405, "method_not_allowed")


async def test_405_names_the_allowed_method(database_url: str) -> None:
    async with edge(database_url) as bot:
        reply = await bot.get("/hooks/relay")
    assert reply.status == 405
    assert reply.headers.get("Allow") == "POST"


async def test_non_ascii_signature_header_is_401(database_url: str) -> None:
    body = encode(relay_payload())
    headers = {
        TIMESTAMP_HEADER: str(int(time.time())),
        SIGNATURE_HEADER: "v1=é",
        "Content-Type": "application/json",
    }
    async with edge(database_url) as bot:
        reply = await bot.post(body, headers=headers)
    _assert_error(reply, 401, "bad_signature")


async def test_nul_in_event_id_is_400(database_url: str) -> None:
    async with edge(database_url) as bot:
        reply = await bot.post(relay_payload(event_id="evt\x00-1"))
    _assert_error(reply, 400, "bad_request")
    assert reply.body["field"] == "event_id"


async def test_long_display_name_still_gets_an_answer(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    async with edge(database_url) as bot:
        reply = await bot.post(relay_payload(text="ヘルプ", name="名" * 300))
        await bot.settle()
        rows = await bot.inbox()
    assert reply.status == 200
    assert rows[0].status == "done"
    assert HELP_MARK in bot.platform.texts[0]


# -- health and database outages ---------------------------------------------------------


async def test_healthz_reports_the_database(database_url: str) -> None:
    async with edge(database_url) as bot:
        reply = await bot.get("/healthz")
    assert reply.status == 200
    assert reply.body == {"ok": True, "database": "ok"}


@asynccontextmanager
async def _sqlite_threads_joined() -> AsyncIterator[None]:
    """aiosqlite stops the worker thread of a failed connect without awaiting it; the thread
    then resolves a future on this test's loop. Wait for it so it never finds the loop closed.
    """
    before = set(threading.enumerate())
    try:
        yield
    finally:
        for thread in set(threading.enumerate()) - before:
            if "_connection_worker_thread" in thread.name:
                await asyncio.to_thread(thread.join, 5)
        await asyncio.sleep(0)


def _unreachable_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'dxbot.db'}"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"


async def test_unreachable_database_is_503_and_nothing_acked(
    database_url: str, tmp_path: Path
) -> None:
    runtime = Runtime(
        fast_settings(_unreachable_url(database_url, tmp_path)),
        webhooks={"relay": RelayAdapter(RELAY_SECRET)},
    )
    body = encode(relay_payload(text="ヘルプ"))
    async with _sqlite_threads_joined():
        try:
            client = await start_client(runtime)
            try:
                started = time.monotonic()
                sent = client.post("/hooks/relay", data=body, headers=signed_headers(body))
                hook = await read_reply(sent)
                health = await read_reply(client.get("/healthz"))
                elapsed = time.monotonic() - started
            finally:
                await client.close()
        finally:
            await runtime.stop(flush_seconds=0)
    _assert_error(hook, 503, "unavailable")
    assert hook.headers["Retry-After"] == "5"
    _assert_error(health, 503, "database_unavailable")
    assert elapsed < 10


async def test_event_refused_during_an_outage_is_accepted_as_new_afterwards(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = create_engine(_unreachable_url(database_url, tmp_path))
    payload = relay_payload(text="ヘルプ")
    try:
        async with _sqlite_threads_joined(), edge(database_url) as bot:
            with monkeypatch.context() as patch:
                patch.setattr(bot.runtime, "engine", down)
                patch.setattr(bot.runtime, "sessions", session_factory(down))
                patch.setattr(bot.runtime, "intake", intake := Intake(down, bot.runtime.clock))
                refused = await bot.post(payload)
                health_down = await bot.get("/healthz")
                await intake.stop()
            rows_during = await bot.inbox()
            retried = await bot.post(payload)
            health_up = await bot.get("/healthz")
            await bot.settle()
            rows_after = await bot.inbox()
    finally:
        await down.dispose()
    _assert_error(refused, 503, "unavailable")
    assert health_down.status == 503
    assert rows_during == []
    assert retried.status == 200 and retried.body == {"ok": True}  # not a duplicate
    assert health_up.body == {"ok": True, "database": "ok"}
    assert [r.event_id for r in rows_after] == [payload["event_id"]]
    assert len(bot.platform.deliveries) == 1
    assert HELP_MARK in bot.platform.texts[0]


async def test_events_of_one_user_are_answered_in_arrival_order(database_url: str) -> None:
    async with edge(database_url) as bot:
        first = await bot.post(relay_payload(text="今日の天気は?", user="U400"))
        second = await bot.post(relay_payload(text="ヘルプ", user="U400"))
        rows = await bot.inbox()
        await bot.settle()
    assert first.status == second.status == 200
    assert [r.payload["text"] for r in rows] == ["今日の天気は?", "ヘルプ"]
    assert len(bot.platform.texts) == 2
    assert "よくわかりませんでした" in bot.platform.texts[0]
    assert HELP_MARK in bot.platform.texts[1]
