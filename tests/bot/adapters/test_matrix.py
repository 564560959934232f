"""Matrix application service without Synapse: hs_token, transactions, sends, errors.

Recorded Synapse transactions (``matrix_payloads/``) are parsed directly and pushed through the
HTTP edge; sends go to ``tests.matrix.fake_homeserver``. tests/matrix runs the real Synapse.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.adapters.base import Ack, Batch, DeliveryError, PayloadError, RawRequest, SignatureError
from bot.adapters.matrix import MatrixAdapter, from_settings
from bot.adapters.matrix_inbound import strip_reply_fallback
from bot.adapters.registry import PLATFORM_MODULES
from bot.events import Event, EventType
from bot.messages import Choice, OutgoingMessage
from bot.runtime import Runtime
from config.settings import Settings
from storage.models import InboxEvent
from tests.conftest import fast_settings
from tests.edge import Reply, read_reply, start_client
from tests.matrix.fake_homeserver import AS_TOKEN, BOT, FakeHomeserver

PAYLOADS = Path(__file__).parent / "matrix_payloads"
HS_TOKEN = "hs-token-for-tests"
ROOM = "!7B_ugAce_75vNGTVx5jZUYjdghS77TkvN2mCqIFymLc"  # the recorded direct chat
SATO = "@sato:localhost"
TXN = "/_matrix/app/v1/transactions/"


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def body_of(payload: dict[str, Any] | bytes) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")


def transaction(payload: dict[str, Any] | bytes, txn: str = "1") -> RawRequest:
    return RawRequest(headers={}, body=body_of(payload), method="PUT", path=TXN + txn)


def adapter(
    http: aiohttp.ClientSession | None = None, url: str = "http://127.0.0.1:9"
) -> MatrixAdapter:
    return MatrixAdapter(HS_TOKEN, AS_TOKEN, BOT, homeserver_url=url, http=http)


def events_of(request: RawRequest, bot: MatrixAdapter | None = None) -> tuple[Event, ...]:
    parsed = (bot or adapter()).parse(request)
    assert isinstance(parsed, Batch) and parsed.ack == Ack(200, {})
    return parsed.events


def text_event(body: str, *, event_id: str = "$e1", **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "room_id": ROOM,
        "sender": SATO,
        "origin_server_ts": 1795990237502,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


# -- verify: the hs_token ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": f"Bearer {HS_TOKEN}"}, {}),
        ({"authorization": f"bearer {HS_TOKEN}"}, {}),
        ({}, {"access_token": HS_TOKEN}),  # legacy
        ({"Authorization": f"Bearer {HS_TOKEN}"}, {"access_token": HS_TOKEN}),
    ],
)
def test_the_hs_token_is_accepted_from_the_header_or_the_legacy_query(
    headers: dict[str, str], query: dict[str, str]
) -> None:
    adapter().verify(RawRequest(headers=headers, body=b"{}", query=query), 0.0)


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, {}, 401),
        ({"Authorization": "Basic abc"}, {}, 401),
        ({"Authorization": "Bearer wrong"}, {}, 403),
        ({}, {"access_token": "wrong"}, 403),
        ({"Authorization": f"Bearer {HS_TOKEN}"}, {"access_token": "wrong"}, 403),  # both must
        ({"Authorization": "Bearer é"}, {}, 403),
    ],
)
def test_a_missing_token_is_401_and_a_wrong_one_403(
    headers: dict[str, str], query: dict[str, str], status: int
) -> None:
    with pytest.raises(SignatureError) as caught:
        adapter().verify(RawRequest(headers=headers, body=b"{}", query=query), 0.0)
    assert caught.value.status == status


# -- parse: recorded transactions --------------------------------------------------------


def test_a_recorded_text_message_becomes_an_event() -> None:
    [event] = events_of(transaction(recorded("message_text")))
    assert event.adapter == "matrix"
    assert event.event_id == "$k8IixKnCw0g4KOtU7Nsfrgv9I6I0OSAzjK75bM5lIq8"
    assert event.user.id == SATO and event.conversation.id == ROOM
    assert (event.type, event.command, event.text) == (EventType.COMMAND, "dx", "help")
    assert event.occurred_at.tzinfo is not None and event.occurred_at.year == 2026


@pytest.mark.parametrize("name", ["invite_direct", "bot_joined", "bot_notice", "edit", "leave"])
def test_membership_the_bots_own_notices_and_edits_are_not_events(name: str) -> None:
    assert events_of(transaction(recorded(name))) == ()


def test_a_reply_loses_its_quoted_fallback_and_an_image_is_an_empty_message() -> None:
    [reply] = events_of(transaction(recorded("reply")))
    [image] = events_of(transaction(recorded("image")))
    assert (reply.type, reply.command, reply.text) == (EventType.COMMAND, "dx", "status")
    assert (image.type, image.text, image.extra) == (EventType.MESSAGE, "", {"msgtype": "m.image"})


def test_a_batch_keeps_the_peoples_messages_in_order() -> None:
    events = events_of(transaction(recorded("batch")))
    assert [(e.command, e.text) for e in events] == [("dx", "help"), ("dx", "status"), (None, "")]
    assert len({e.event_id for e in events}) == 3


def test_a_room_is_a_group_until_prepare_has_counted_it() -> None:
    [event] = events_of(transaction({"events": [text_event("こんにちは")]}))
    assert event.conversation.kind == "group" and event.type == EventType.MESSAGE


@pytest.mark.parametrize(
    ("text", "command", "rest"),
    [
        ("/dx status", "dx", "status"),
        ("!dx status", "dx", "status"),
        ("/dx", "dx", ""),
        ("／ｄｘ　ステータス", "dx", "ステータス"),  # full-width, from a Japanese IME
        ("!DX list 2\n", "dx", "list 2"),
    ],
)
def test_slash_and_bang_words_are_commands(text: str, command: str, rest: str) -> None:
    [event] = events_of(transaction({"events": [text_event(text)]}))
    assert (event.type, event.command, event.text) == (EventType.COMMAND, command, rest)


@pytest.mark.parametrize("text", ["/", "!!!", "1/2", "はい", " ", "/ dx"])
def test_other_text_stays_a_message(text: str) -> None:
    [event] = events_of(transaction({"events": [text_event(text)]}))
    assert (event.type, event.text) == (EventType.MESSAGE, text)


def test_reply_fallback_is_stripped_only_when_it_is_one() -> None:
    assert strip_reply_fallback("> <@a:b> 元の文\n> 続き\n\n返事") == "返事"
    assert strip_reply_fallback("返事") == "返事"
    assert strip_reply_fallback("> 引用だけ") == ""


def test_an_unreadable_event_is_skipped_not_the_transaction() -> None:
    bad = [
        {**text_event("a"), "event_id": 5},
        {**text_event("b"), "origin_server_ts": "yesterday"},
        {**text_event("c"), "sender": "x" * 300},
        {**text_event("d", event_id="$e2"), "content": {"msgtype": "m.text", "body": None}},
        "not an object",
    ]
    events = events_of(transaction({"events": [*bad, text_event("ok", event_id="$ok")]}))
    assert [e.text for e in events] == ["ok"]


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"not json", "body"), (b"[]", "body"), (b"{}", "events"), (b'{"events": {}}', "events")],
)
def test_a_malformed_envelope_is_a_payload_error(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        adapter().parse(transaction(body))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", f"/_matrix/app/v1/users/{BOT}", Ack(200, {})),
        ("GET", "/_matrix/app/v1/users/@dxbot_other:localhost", 404),
        ("GET", "/_matrix/app/v1/rooms/#dx:localhost", 404),
        ("POST", "/_matrix/app/v1/ping", Ack(200, {})),
        ("GET", "/_matrix/app/v1/thirdparty/protocol/irc", 404),
        ("GET", TXN + "1", 405),
        ("PUT", "/hooks/matrix", 404),
    ],
)
def test_other_application_service_endpoints(method: str, path: str, expected: Any) -> None:
    body = body_of(recorded("ping")) if path.endswith("ping") else b""
    answer = adapter().parse(RawRequest(headers={}, body=body, method=method, path=path))
    assert isinstance(answer, Ack)
    if isinstance(expected, Ack):
        assert answer == expected
    else:
        assert answer.status == expected and answer.body["errcode"].startswith("M_")


# -- the HTTP edge: store before 200 {} ----------------------------------------------------


@dataclass
class Deployment:
    runtime: Runtime
    client: TestClient[Any, Any]
    homeserver: FakeHomeserver
    adapter: MatrixAdapter

    async def put(self, payload: dict[str, Any] | bytes, txn: str = "1", **kw: Any) -> Reply:
        headers = kw.pop("headers", {"Authorization": f"Bearer {HS_TOKEN}"})
        response = self.client.put(TXN + txn, data=body_of(payload), headers=headers, **kw)
        return await read_reply(response)

    async def stored(self) -> list[InboxEvent]:
        async with self.runtime.sessions() as session:
            return list(await session.scalars(select(InboxEvent).order_by(InboxEvent.id)))

    async def settle(self) -> None:
        await self.runtime.worker.handle_pending()
        await self.runtime.dispatcher.drain(5)


@asynccontextmanager
async def deployed(database_url: str) -> AsyncIterator[Deployment]:
    homeserver = await FakeHomeserver().start()
    async with aiohttp.ClientSession() as http:
        matrix = adapter(http, homeserver.url)
        runtime = Runtime(fast_settings(database_url), webhooks={"matrix": matrix})
        await runtime.prepare()
        client = await start_client(runtime)
        try:
            yield Deployment(runtime, client, homeserver, matrix)
        finally:
            await client.close()
            await runtime.stop(flush_seconds=0)
            await homeserver.stop()


async def test_a_transaction_is_stored_then_answered_and_a_resend_stores_nothing(
    database_url: str,
) -> None:
    async with deployed(database_url) as bot:
        bot.homeserver.members[ROOM] = {BOT, SATO}
        first = await bot.put(recorded("batch"), txn="7")
        again = await bot.put(recorded("batch"), txn="7")  # the homeserver's retry
        stored = await bot.stored()
    assert (first.status, first.body) == (200, {}) and (again.status, again.body) == (200, {})
    assert len(stored) == 3 and {row.adapter for row in stored} == {"matrix"}
    assert stored[0].payload["conversation"] == {"id": ROOM, "kind": "direct"}


async def test_a_bad_hs_token_is_m_forbidden_and_nothing_is_stored(database_url: str) -> None:
    async with deployed(database_url) as bot:
        wrong = await bot.put(recorded("message_text"), headers={"Authorization": "Bearer no"})
        missing = await bot.put(recorded("message_text"), headers={})
        legacy = await bot.put(
            recorded("message_text"), headers={}, params={"access_token": HS_TOKEN}
        )
        stored = await bot.stored()
    assert (wrong.status, wrong.body["errcode"]) == (403, "M_FORBIDDEN")
    assert (missing.status, missing.body["errcode"]) == (401, "M_UNAUTHORIZED")
    assert legacy.status == 200 and len(stored) == 1


async def test_unknown_routes_and_bad_bodies_get_matrix_errors(database_url: str) -> None:
    auth = {"Authorization": f"Bearer {HS_TOKEN}"}
    async with deployed(database_url) as bot:
        unknown = await read_reply(bot.client.get("/_matrix/app/v1/nothing", headers=auth))
        user = await read_reply(bot.client.get(f"/_matrix/app/v1/users/{BOT}", headers=auth))
        malformed = await bot.put(b"{not json")
    assert (unknown.status, unknown.body["errcode"]) == (404, "M_UNRECOGNIZED")
    assert (user.status, user.body) == (200, {})
    assert (malformed.status, malformed.body["errcode"]) == (400, "M_BAD_JSON")


async def test_an_invite_is_joined_before_the_ack_and_recorded_as_direct(
    database_url: str,
) -> None:
    invite = recorded("invite_direct")
    room, inviter = invite["events"][0]["room_id"], invite["events"][0]["sender"]
    async with deployed(database_url) as bot:
        reply = await bot.put(invite)
        bot.homeserver.members[room].add(inviter)
        await bot.put(recorded("message_text"), txn="2")
        await bot.settle()
        stored = await bot.stored()
    assert reply.status == 200 and bot.homeserver.joined == [room]
    assert bot.homeserver.direct == {inviter: [room]}
    assert stored[0].payload["conversation"]["kind"] == "direct"
    assert bot.homeserver.posted and bot.homeserver.posted[0].room_id == room  # help answered


async def test_a_homeserver_failure_while_preparing_is_503_then_the_retry_is_stored(
    database_url: str,
) -> None:
    async with deployed(database_url) as bot:
        bot.homeserver.members[ROOM] = {BOT, SATO, "@suzuki:localhost"}
        bot.homeserver.fail_members.append(500)
        failed = await bot.put(recorded("message_text"), txn="3")
        nothing = await bot.stored()
        retried = await bot.put(recorded("message_text"), txn="3")
        stored = await bot.stored()
    assert failed.status == 503 and failed.body["errcode"] == "M_UNKNOWN" and nothing == []
    assert retried.status == 200 and stored[0].payload["conversation"]["kind"] == "group"


async def test_a_member_event_makes_the_room_be_counted_again(database_url: str) -> None:
    async with deployed(database_url) as bot:
        bot.homeserver.members[ROOM] = {BOT, SATO}
        await bot.put({"events": [text_event("1", event_id="$a")]}, txn="1")
        bot.homeserver.members[ROOM].add("@suzuki:localhost")
        joined = {
            **text_event("", event_id="$j"),
            "type": "m.room.member",
            "state_key": "@suzuki:localhost",
            "content": {"membership": "join"},
        }
        await bot.put({"events": [joined, text_event("2", event_id="$b")]}, txn="2")
        kinds = [row.payload["conversation"]["kind"] for row in await bot.stored()]
    assert kinds == ["direct", "group"]


async def test_writers_are_named_from_their_profile_or_member_event(database_url: str) -> None:
    suzuki = "@suzuki:localhost"
    member = {
        **text_event("", event_id="$m"),
        "type": "m.room.member",
        "sender": suzuki,
        "state_key": suzuki,
        "content": {"membership": "join", "displayname": "鈴木 一郎"},
    }
    async with deployed(database_url) as bot:
        bot.homeserver.members[ROOM] = {BOT, SATO, suzuki}
        bot.homeserver.names[SATO] = "佐藤 花子"
        await bot.put({"events": [text_event("a", event_id="$a")]}, txn="1")
        await bot.put(
            {"events": [member, {**text_event("b", event_id="$b"), "sender": suzuki}]}, txn="2"
        )
        names = [row.payload["user"]["name"] for row in await bot.stored()]
    assert names == ["佐藤 花子", "鈴木 一郎"]


# -- send ----------------------------------------------------------------------------------


@asynccontextmanager
async def sending() -> AsyncIterator[tuple[MatrixAdapter, FakeHomeserver]]:
    homeserver = await FakeHomeserver().start()
    async with aiohttp.ClientSession() as http:
        try:
            yield adapter(http, homeserver.url), homeserver
        finally:
            await homeserver.stop()


async def test_send_puts_a_notice_with_the_outbox_key_as_txn_id_as_the_bot() -> None:
    message = OutgoingMessage(
        "頻度は?",
        choices=(Choice("毎日", "pick", "d"), Choice("毎週", "pick", "w")),
        conversation_id=ROOM,
    )
    async with sending() as (matrix, homeserver):
        ref = await matrix.send(message, "key-1")
        again = await matrix.send(message, "key-1")  # a retry of the same outbox row
    [posted] = homeserver.posted
    assert ref.message_id == again.message_id == "$event1"
    assert (posted.room_id, posted.txn_id) == (ROOM, "key-1")
    assert posted.content == {"msgtype": "m.notice", "body": "頻度は?\n\n1. 毎日\n2. 毎週"}
    method, path, auth, user_id = homeserver.seen[0]
    assert (method, auth, user_id) == ("PUT", f"Bearer {AS_TOKEN}", BOT)
    assert path.endswith("/send/m.room.message/key-1")


@pytest.mark.parametrize(
    ("answer", "retryable", "retry_after"),
    [
        ((429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500}), True, 2.5),
        (
            (429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 2500}, {"Retry-After": "7"}),
            True,
            7.0,
        ),
        ((429, {"errcode": "M_LIMIT_EXCEEDED"}), True, None),
        ((500, {"errcode": "M_UNKNOWN"}), True, None),
        ((502, "<html>bad gateway</html>"), True, None),
        ((403, {"errcode": "M_FORBIDDEN", "error": "not in room"}), False, None),
        ((400, {"errcode": "M_TOO_LARGE"}), False, None),
    ],
)
async def test_send_failures_say_whether_to_retry(
    answer: tuple[Any, ...], retryable: bool, retry_after: float | None
) -> None:
    async with sending() as (matrix, homeserver):
        homeserver.script.append(answer)
        with pytest.raises(DeliveryError) as caught:
            await matrix.send(OutgoingMessage("こんにちは", conversation_id=ROOM), "k")
    assert (caught.value.retryable, caught.value.retry_after) == (retryable, retry_after)
    if isinstance(answer[1], dict):
        assert caught.value.reason.endswith(answer[1]["errcode"])


async def test_an_unreachable_homeserver_is_retryable() -> None:
    async with aiohttp.ClientSession() as http:
        matrix = adapter(http, "http://127.0.0.1:9")  # nothing listens on the discard port
        with pytest.raises(DeliveryError) as caught:
            await matrix.send(OutgoingMessage("x", conversation_id=ROOM), "k")
    assert caught.value.retryable


async def test_a_reminder_to_a_user_opens_one_direct_room_and_reuses_it() -> None:
    async with sending() as (matrix, homeserver):
        await matrix.send(OutgoingMessage("1通目", user_id=SATO), "k1")
        await matrix.send(OutgoingMessage("2通目", user_id=SATO), "k2")
        fresh = adapter(matrix._http, homeserver.url)  # a restarted process: m.direct
        await fresh.send(OutgoingMessage("3通目", user_id=SATO), "k3")
    [created] = homeserver.created
    assert created == {"is_direct": True, "invite": [SATO], "preset": "trusted_private_chat"}
    assert homeserver.direct == {SATO: ["!created1:localhost"]}
    assert {p.room_id for p in homeserver.posted} == {"!created1:localhost"}


async def test_a_left_direct_room_is_forgotten_and_not_reused() -> None:
    left = {
        **text_event("", event_id="$l"),
        "type": "m.room.member",
        "room_id": "!created1:localhost",
        "state_key": SATO,
        "content": {"membership": "leave"},
    }
    async with sending() as (matrix, homeserver):
        await matrix.send(OutgoingMessage("1通目", user_id=SATO), "k1")
        homeserver.membership[("!created1:localhost", SATO)] = "leave"
        await matrix.prepare(transaction({"events": [left]}))
        await matrix.send(OutgoingMessage("2通目", user_id=SATO), "k2")
    assert [p.room_id for p in homeserver.posted] == ["!created1:localhost", "!created2:localhost"]


async def test_a_direct_room_the_person_left_is_not_reused() -> None:
    async with sending() as (matrix, homeserver):
        homeserver.direct = {SATO: ["!old:localhost"]}
        homeserver.membership[("!old:localhost", SATO)] = "leave"
        await matrix.send(OutgoingMessage("こんにちは", user_id=SATO), "k")
    assert homeserver.posted[0].room_id == "!created1:localhost"
    assert homeserver.direct == {SATO: ["!old:localhost", "!created1:localhost"]}


async def test_a_lost_answer_is_retried_by_the_outbox_and_shown_once(database_url: str) -> None:
    async with deployed(database_url) as bot:
        bot.homeserver.members[ROOM] = {BOT, SATO}
        bot.homeserver.script.append("lost")  # posted, but the 200 never came back
        await bot.put(recorded("message_text"))
        for _ in range(100):  # the retry is due a backoff later
            await bot.settle()
            sends = [path for _, path, _, _ in bot.homeserver.seen if "/send/" in path]
            if len(sends) == 2:
                break
            await asyncio.sleep(0.02)
    assert len(sends) == 2 and len(set(sends)) == 1  # the same txnId both times
    assert len(bot.homeserver.posted) == 1


# -- settings ------------------------------------------------------------------------------


def test_from_settings_needs_the_hs_token_then_names_what_is_missing() -> None:
    assert "bot.adapters.matrix" in PLATFORM_MODULES
    assert from_settings(Settings.model_validate({})) is None
    with pytest.raises(ValueError, match=r"DXBOT_MATRIX_AS_TOKEN, DXBOT_MATRIX_BOT_USER_ID"):
        from_settings(Settings.model_validate({"matrix": {"hs_token": "h"}}))
    made = from_settings(
        Settings.model_validate({"matrix": {"hs_token": "h", "as_token": "a", "bot_user_id": BOT}})
    )
    assert isinstance(made, MatrixAdapter) and made.capabilities.buttons is False


def test_the_bot_user_id_must_be_a_matrix_id() -> None:
    with pytest.raises(ValueError, match="Matrix user ID"):
        Settings.model_validate({"matrix": {"bot_user_id": "dxbot"}})
