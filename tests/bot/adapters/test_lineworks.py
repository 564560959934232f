"""LINE WORKS Bot API 2.0: signed callbacks, service-account tokens and sending, for real.

Unit tests call the adapter directly; the rest go through the HTTP edge and the outbox
dispatcher, against ``tests.fake_lineworks`` (token endpoint + bot message endpoints).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import outbox
from bot.adapters.base import Ack, DeliveryError, PayloadError, RawRequest, SignatureError
from bot.adapters.lineworks import (
    DEFAULT_RETRY_AFTER,
    LineWorksAdapter,
    content_for,
    dedupe_key,
    from_settings,
    sign,
)
from bot.clock import Clock, FrozenClock
from bot.events import Event, EventType
from bot.messages import Choice, OutgoingMessage
from bot.runtime import Runtime
from config.settings import Settings
from storage.issues import Issue
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import fast_settings
from tests.edge import Reply, read_reply, start_client
from tests.fake_lineworks import (
    BOT_ID,
    BOT_SECRET,
    CLIENT_ID,
    PAYLOADS,
    SERVICE_ACCOUNT,
    FakeLineWorks,
    callback,
    encode,
    issued_time,
    make_adapter,
    private_key_pem,
    recorded,
    signed_headers,
)

USER = "c72af563-0f21-4736-11e4-045237113344"
GROUP = "12345a12-b12c-12d3-e123fghijkl"
HELP_MARK = "できること"


def _adapter() -> LineWorksAdapter:
    return make_adapter(FakeLineWorks())  # inbound only: no server needed


def _signed(body: bytes, **headers: str) -> RawRequest:
    return RawRequest(headers={**signed_headers(body), **headers}, body=body)


def _now_of(body: dict[str, Any]) -> float:
    return datetime.fromisoformat(body["issuedTime"]).timestamp()


def _parse(body: dict[str, Any]) -> Event | Ack:
    return _adapter().parse(RawRequest(headers={}, body=encode(body)))


def _field_error(body: dict[str, Any] | bytes) -> str:
    raw = body if isinstance(body, bytes) else encode(body)
    with pytest.raises(PayloadError) as caught:
        _adapter().parse(RawRequest(headers={}, body=raw))
    return caught.value.field


# -- verify ------------------------------------------------------------------------------


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"type":"message"}'
    digest = hmac.new(BOT_SECRET.encode(), body, hashlib.sha256).digest()
    assert sign(BOT_SECRET, body) == base64.b64encode(digest).decode()


def test_verify_accepts_a_signed_callback_with_any_header_case() -> None:
    payload = callback()
    body = encode(payload)
    _adapter().verify(_signed(body), _now_of(payload))
    lower = {k.lower(): v for k, v in signed_headers(body).items()}
    _adapter().verify(RawRequest(headers=lower, body=body), _now_of(payload))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-WORKS-Signature": ""}, "missing"),
        ({"X-WORKS-BotId": ""}, "missing"),
        ({"X-WORKS-BotId": "9999999"}, "not this bot"),
        ({"X-WORKS-Signature": sign("another-secret", b"{}")}, "does not match"),
        ({"X-WORKS-Signature": "é"}, "does not match"),
    ],
)
def test_verify_rejects_bad_or_missing_headers(headers: dict[str, str], message: str) -> None:
    payload = callback()
    with pytest.raises(SignatureError, match=message):
        _adapter().verify(_signed(encode(payload), **headers), _now_of(payload))


def test_verify_rejects_a_tampered_body() -> None:
    payload = callback(text="ヘルプ")
    headers = signed_headers(encode(payload))
    tampered = encode({**payload, "content": {"type": "text", "text": "課題を報告"}})
    with pytest.raises(SignatureError, match="does not match"):
        _adapter().verify(RawRequest(headers=headers, body=tampered), _now_of(payload))


def test_verify_limits_replay_to_the_issued_time_window() -> None:
    payload = callback()
    request, issued = _signed(encode(payload)), _now_of(payload)
    adapter = _adapter()
    adapter.verify(request, issued + 3600)
    adapter.verify(request, issued - 3600)  # our clock behind theirs
    for now in (issued + 3601, issued - 3601):
        with pytest.raises(SignatureError, match="window"):
            adapter.verify(request, now)


def test_verify_leaves_malformed_bodies_to_parse() -> None:
    _adapter().verify(_signed(b"not json"), time.time())


# -- parse: every recorded event type ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("message_text_direct", ("message", f"dm:{USER}", "direct", "ヘルプ", None, "")),
        ("message_text_group", ("message", GROUP, "group", "今週の課題は?", None, "")),
        ("message_text_button", ("action", f"dm:{USER}", "direct", "赤", "colour", "red")),
        ("message_text_start", ("message", f"dm:{USER}", "direct", "利用開始", None, "")),
        ("message_text_command", ("command", f"dm:{USER}", "direct", "mine", None, "")),
        ("message_image", ("message", f"dm:{USER}", "direct", "", None, "")),
        ("message_file", ("message", f"dm:{USER}", "direct", "", None, "")),
        ("message_sticker", ("message", f"dm:{USER}", "direct", "", None, "")),
        ("message_location", ("message", f"dm:{USER}", "direct", "", None, "")),
        ("postback", ("action", "12345", "group", "", "action=buy", "")),
    ],
)
def test_recorded_events_become_events(name: str, expected: tuple[Any, ...]) -> None:
    event = _parse(recorded(name))
    assert isinstance(event, Event)
    kind, conversation, conversation_kind, text, action_id, value = expected
    assert event.adapter == "lineworks"
    assert event.type == EventType(kind)
    assert event.user.id == USER
    assert (event.conversation.id, event.conversation.kind) == (conversation, conversation_kind)
    assert (event.text, event.action_id, event.value) == (text, action_id, value)
    assert event.occurred_at.tzinfo is not None and event.occurred_at.year == 2022
    assert event.event_id.startswith("lw-") and len(event.event_id) <= 255


def test_button_press_keeps_the_label_typed_and_other_content_types_say_what_they_were() -> None:
    pressed = _parse(recorded("message_text_button"))
    image = _parse(recorded("message_image"))
    command = _parse(recorded("message_text_command"))
    assert isinstance(pressed, Event) and pressed.extra == {"typed": "赤"}
    assert isinstance(image, Event) and image.extra == {"content_type": "image"}
    assert isinstance(command, Event) and command.command == "dx"


@pytest.mark.parametrize("name", ["join", "leave", "joined", "left"])
def test_membership_events_are_acknowledged_not_stored(name: str) -> None:
    assert _parse(recorded(name)) == Ack(200, {"ok": True, "ignored": name})


def test_dedupe_key_is_stable_across_serializations_and_differs_between_events() -> None:
    body = recorded("message_text_direct")
    reordered = json.loads(json.dumps(dict(reversed(list(body.items())))))
    assert dedupe_key(body) == dedupe_key(reordered)
    event = _parse(body)
    again = _adapter().parse(RawRequest(headers={}, body=json.dumps(reordered, indent=2).encode()))
    assert isinstance(event, Event) and isinstance(again, Event)
    assert event.event_id == again.event_id
    later = _parse({**body, "issuedTime": "2022-01-04T05:16:05.717Z"})
    assert isinstance(later, Event) and later.event_id != event.event_id


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["source"].pop("userId"), "source.userId"),
        (lambda b: b.pop("source"), "source"),
        (lambda b: b["content"].pop("type"), "content.type"),
        (lambda b: b["content"].pop("text"), "content.text"),
        (lambda b: b.pop("content"), "content"),
        (lambda b: b.update(issuedTime="yesterday"), "issuedTime"),
        (lambda b: b.pop("issuedTime"), "issuedTime"),
        (lambda b: b["source"].update(channelId=""), "source.channelId"),
        (lambda b: b["content"].update(postback=7), "content.postback"),
        (lambda b: b.pop("type"), "type"),
    ],
)
def test_bad_bodies_name_the_field(mutate: Any, field: str) -> None:
    body = recorded("message_text_group")
    mutate(body)
    assert _field_error(body) == field


def test_bad_json_is_a_payload_error_on_body() -> None:
    assert _field_error(b"[1, 2]") == "body"
    assert _field_error(b'{"type": ') == "body"
    assert _field_error("ヘルプ".encode("shift_jis")) == "body"


def test_postback_event_without_data_names_it() -> None:
    assert _field_error(recorded("postback", data="")) == "data"


def test_epoch_millisecond_issued_time_is_accepted() -> None:
    event = _parse(recorded("message_text_direct", issuedTime=1641273365716))
    assert isinstance(event, Event)
    assert event.occurred_at == datetime(2022, 1, 4, 5, 16, 5, 716000, tzinfo=UTC)


# -- outbound content --------------------------------------------------------------------


def _choices(count: int, label: str = "選択肢") -> tuple[Choice, ...]:
    return tuple(Choice(f"{label}{i}", "pick", str(i)) for i in range(1, count + 1))


def test_choices_become_a_button_template_of_message_actions() -> None:
    content = content_for(OutgoingMessage("どの色?", choices=_choices(2), user_id="U1"))
    assert content == {
        "type": "button_template",
        "contentText": "どの色?",
        "actions": [
            {"type": "message", "label": "選択肢1", "postback": "pick:1"},
            {"type": "message", "label": "選択肢2", "postback": "pick:2"},
        ],
    }


def test_long_labels_are_clipped_but_the_postback_keeps_the_whole_value() -> None:
    long = Choice("とても長いラベルの選択肢です、二十文字を超えます", "pick", "x")
    [action] = content_for(OutgoingMessage("?", choices=(long,), user_id="U1"))["actions"]
    assert len(action["label"]) == 20 and action["label"].endswith("…")
    assert action["postback"] == "pick:x"


def test_beyond_the_template_limits_quick_replies_then_numbered_text() -> None:
    eleven = content_for(OutgoingMessage("選んでください", choices=_choices(11), user_id="U1"))
    long_text = content_for(OutgoingMessage("あ" * 1500, choices=_choices(2), user_id="U1"))
    fourteen = content_for(OutgoingMessage("選んでください", choices=_choices(14), user_id="U1"))
    assert eleven["type"] == "text" and len(eleven["quickReply"]["items"]) == 11
    assert eleven["quickReply"]["items"][0]["action"]["postback"] == "pick:1"
    assert long_text["type"] == "text" and len(long_text["quickReply"]["items"]) == 2
    assert fourteen == {
        "type": "text",
        "text": "選んでください\n\n" + "\n".join(f"{i}. 選択肢{i}" for i in range(1, 15)),
    }


def test_plain_text_is_a_text_message_clipped_to_the_limit() -> None:
    assert content_for(OutgoingMessage("こんにちは", user_id="U1")) == {
        "type": "text",
        "text": "こんにちは",
    }
    assert len(content_for(OutgoingMessage("あ" * 2500, user_id="U1"))["text"]) == 2000


def test_capabilities() -> None:
    caps = _adapter().capabilities
    assert (caps.buttons, caps.images, caps.files, caps.max_text_length) == (
        True,
        False,
        False,
        2000,
    )


# -- from_settings -----------------------------------------------------------------------


def _settings(tmp_path: Path, **lineworks: Any) -> Settings:
    key = tmp_path / "private_20260401.key"
    key.write_bytes(private_key_pem())
    base = {
        "bot_id": BOT_ID,
        "bot_secret": BOT_SECRET,
        "client_id": CLIENT_ID,
        "client_secret": "secret",
        "service_account": SERVICE_ACCOUNT,
        "private_key_path": str(key),
    }
    return Settings.model_validate({"lineworks": {**base, **lineworks}})


def test_from_settings_builds_the_adapter_only_when_a_bot_secret_is_set(tmp_path: Path) -> None:
    assert from_settings(Settings.model_validate({})) is None
    assert from_settings(_settings(tmp_path, bot_secret="")) is None
    adapter = from_settings(_settings(tmp_path))
    assert isinstance(adapter, LineWorksAdapter) and adapter.name == "lineworks"


def test_from_settings_names_every_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        from_settings(_settings(tmp_path, bot_id=None, service_account="", private_key_path=None))
    message = str(caught.value)
    for name in ("BOT_ID", "SERVICE_ACCOUNT", "PRIVATE_KEY_PATH"):
        assert f"DXBOT_LINEWORKS_{name}" in message
    assert "CLIENT_ID" not in message


@pytest.mark.parametrize("content", [None, b"-----BEGIN PRIVATE KEY-----\nnope\n"])
def test_from_settings_explains_an_unusable_key(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "broken.key"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match="DXBOT_LINEWORKS_PRIVATE_KEY_PATH"):
        from_settings(_settings(tmp_path, private_key_path=str(path)))


# -- tokens and sending, against the fake platform ---------------------------------------


@pytest.fixture
async def platform() -> AsyncIterator[FakeLineWorks]:
    fake = await FakeLineWorks().start()
    yield fake
    await fake.stop()


@asynccontextmanager
async def _sender(
    platform: FakeLineWorks, *, send_timeout: float = 5.0, clock: Clock | None = None
) -> AsyncIterator[LineWorksAdapter]:
    adapter = make_adapter(platform, timeout=send_timeout, clock=clock)
    try:
        yield adapter
    finally:
        await adapter.close()


def _to_user(text: str = "お知らせ", user: str = "U1") -> OutgoingMessage:
    return OutgoingMessage(text, user_id=user)


async def test_token_is_a_service_account_jwt_exchanged_once(platform: FakeLineWorks) -> None:
    async with _sender(platform) as adapter:
        await adapter.send(_to_user("一通目"), "k1")
        await adapter.send(_to_user("二通目"), "k2")
    [form] = platform.token_forms
    [claims] = platform.assertions
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert (form["client_id"], form["scope"]) == (CLIENT_ID, "bot")
    assert (claims["iss"], claims["sub"]) == (CLIENT_ID, SERVICE_ACCOUNT)
    assert abs(claims["iat"] - time.time()) < 60 and claims["exp"] > claims["iat"]
    assert [d.authorization for d in platform.deliveries] == ["Bearer lw-token-1"] * 2


async def test_expired_token_is_refreshed_once(platform: FakeLineWorks) -> None:
    clock = platform.clock = FrozenClock(datetime.now(UTC))
    async with _sender(platform, clock=clock) as adapter:
        await adapter.send(_to_user("一通目"), "k1")
        clock.advance(hours=23, minutes=54)
        await adapter.send(_to_user("二通目"), "k2")
        clock.advance(minutes=2)  # within 5 minutes of the 24-hour expiry: refresh first
        await adapter.send(_to_user("三通目"), "k3")
        await adapter.send(_to_user("四通目"), "k4")
    assert platform.token_requests == 2
    assert [d.authorization for d in platform.deliveries] == [
        "Bearer lw-token-1",
        "Bearer lw-token-1",
        "Bearer lw-token-2",
        "Bearer lw-token-2",
    ]


async def test_concurrent_sends_fetch_one_token(platform: FakeLineWorks) -> None:
    platform.token_delay = 0.1
    async with _sender(platform) as adapter:
        await asyncio.gather(*(adapter.send(_to_user(f"{i}"), f"k{i}") for i in range(10)))
    assert platform.token_requests == 1
    assert len(platform.deliveries) == 10


async def test_refused_token_is_replaced_once_within_the_send(platform: FakeLineWorks) -> None:
    async with _sender(platform) as adapter:
        await adapter.send(_to_user("一通目"), "k1")
        platform.revoke_tokens()  # expired early on the platform's side
        await asyncio.gather(adapter.send(_to_user("二通目"), "k2"), adapter.send(_to_user(), "k3"))
    assert platform.token_requests == 2
    assert [d.authorization for d in platform.deliveries[1:]] == ["Bearer lw-token-2"] * 2


@pytest.mark.parametrize("status", [401, 403])
async def test_token_refused_twice_is_retryable(platform: FakeLineWorks, status: int) -> None:
    platform.script.extend([status, status])
    async with _sender(platform) as adapter:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(_to_user(), "k")
    assert caught.value.retryable is True and str(status) in caught.value.reason
    assert platform.token_requests == 2 and platform.message_requests == 2


@pytest.mark.parametrize(
    ("step", "retryable", "retry_after"),
    [
        ((429, 7), True, 7.0),  # rateLimit-reset: 7
        ((429, 0), True, 1.0),  # the window resets "now": not at once
        ((429, None), True, DEFAULT_RETRY_AFTER),
        (500, True, None),
        (503, True, None),
        (400, False, None),
        (404, False, None),
    ],
)
async def test_send_errors_map_to_delivery_errors(
    platform: FakeLineWorks, step: Any, retryable: bool, retry_after: float | None
) -> None:
    platform.script.append(step)
    async with _sender(platform) as adapter:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(_to_user(), "k")
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert platform.deliveries == []


async def test_client_errors_keep_the_platform_code_in_the_reason(platform: FakeLineWorks) -> None:
    platform.script.append(400)
    async with _sender(platform) as adapter:
        with pytest.raises(DeliveryError, match="HTTP 400 INVALID_PARAMETER"):
            await adapter.send(_to_user(), "k")


async def test_send_timeout_is_retryable(platform: FakeLineWorks) -> None:
    platform.script.append("hang")
    async with _sender(platform, send_timeout=0.2) as adapter:
        with pytest.raises(DeliveryError, match="TimeoutError") as caught:
            await adapter.send(_to_user(), "k")
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("step", "retryable"), [(400, False), (401, False), (500, True), ((429, 3), True)]
)
async def test_token_endpoint_failures(platform: FakeLineWorks, step: Any, retryable: bool) -> None:
    platform.token_script.append(step)
    async with _sender(platform) as adapter:
        with pytest.raises(DeliveryError, match="token") as caught:
            await adapter.send(_to_user(), "k")
        await adapter.send(_to_user(), "k")  # the next try fetches again and gets through
    assert caught.value.retryable is retryable
    assert platform.token_requests == 2 and len(platform.deliveries) == 1


async def test_unreachable_platform_is_retryable(platform: FakeLineWorks) -> None:
    async with _sender(platform) as adapter:
        await platform.stop()
        with pytest.raises(DeliveryError, match="unreachable") as caught:
            await adapter.send(_to_user(), "k")
    assert caught.value.retryable is True


async def test_recipients_pick_the_endpoint(platform: FakeLineWorks) -> None:
    async with _sender(platform) as adapter:
        await adapter.send(OutgoingMessage("a", user_id="user@town.example.lg.jp"), "k1")
        await adapter.send(OutgoingMessage("b", conversation_id=f"dm:{USER}"), "k2")
        await adapter.send(OutgoingMessage("c", conversation_id=GROUP), "k3")
    assert [(d.kind, d.target, d.text) for d in platform.deliveries] == [
        ("users", "user@town.example.lg.jp", "a"),
        ("users", USER, "b"),
        ("channels", GROUP, "c"),
    ]


# -- through the HTTP edge and the outbox dispatcher -------------------------------------


@dataclass
class LineWorksEdge:
    runtime: Runtime
    client: TestClient[Any, Any]
    platform: FakeLineWorks

    async def post(
        self, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> Reply:
        raw = body if isinstance(body, bytes) else encode(body)
        sent = signed_headers(raw) if headers is None else headers
        return await read_reply(self.client.post("/hooks/lineworks", data=raw, headers=sent))

    async def settle(self) -> None:
        """Handle what arrived, then send until no outbox row waits for a retry."""
        await self.runtime.worker.handle_pending()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while True:
            await self.runtime.dispatcher.drain(5)
            waiting = [r for r in await self.outbox() if r.status == outbox.PENDING]
            if not waiting or loop.time() > deadline:
                return
            await asyncio.sleep(0.05)  # a retry is due within max_delay_seconds (0.2)

    async def inbox(self) -> list[InboxEvent]:
        async with self.runtime.sessions() as session:
            return list(await session.scalars(select(InboxEvent).order_by(InboxEvent.id)))

    async def outbox(self) -> list[OutboxMessage]:
        async with self.runtime.sessions() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    async def exchange(self, body: dict[str, Any]) -> list[str]:
        before = len(self.platform.deliveries)
        reply = await self.post(body)
        assert reply.status == 200, reply.body
        await self.settle()
        return self.platform.texts()[before:]

    async def say(self, text: str, *, user: str = "U001") -> list[str]:
        return await self.exchange(callback(text=text, user=user))

    async def press(self, label: str, *, user: str = "U001") -> list[str]:
        """Press the button labelled ``label`` on the last message this user got."""
        postback = self.last_choices(user)[label]
        return await self.exchange(callback(text=label, postback=postback, user=user))

    def last_choices(self, user: str = "U001") -> dict[str, str]:
        for delivery in reversed(self.platform.deliveries):
            if (delivery.kind, delivery.target) == ("users", user):
                return delivery.choices
        return {}


@asynccontextmanager
async def lineworks_edge(
    database_url: str, *, clock: Clock | None = None, send_timeout: float = 5.0
) -> AsyncIterator[LineWorksEdge]:
    """dxbot behind a real HTTP server on 127.0.0.1 with only the LINE WORKS adapter."""
    platform = await FakeLineWorks().start()
    adapter = make_adapter(platform, timeout=send_timeout)
    runtime = Runtime(fast_settings(database_url), clock=clock, webhooks={"lineworks": adapter})
    try:
        await runtime.prepare()
        client = await start_client(runtime)
        try:
            yield LineWorksEdge(runtime, client, platform)
        finally:
            await client.close()
    finally:
        await runtime.stop(flush_seconds=0)
        await platform.stop()


async def test_signed_callback_is_stored_acked_and_answered(database_url: str) -> None:
    body = recorded("message_text_direct", issuedTime=issued_time())
    async with lineworks_edge(database_url) as bot:
        reply = await bot.post(body)
        rows = await bot.inbox()
        await bot.settle()
    assert reply.status == 200 and reply.body == {"ok": True}
    [row] = rows
    assert (row.adapter, row.event_id) == ("lineworks", dedupe_key(body))
    assert row.payload["conversation"] == {"id": f"dm:{USER}", "kind": "direct"}
    [delivery] = bot.platform.deliveries
    assert (delivery.kind, delivery.target) == ("users", USER)
    assert HELP_MARK in delivery.text


async def test_bad_or_missing_signature_is_401_and_not_stored(database_url: str) -> None:
    body = encode(callback())
    async with lineworks_edge(database_url) as bot:
        wrong = await bot.post(body, headers=signed_headers(body, secret="wrong"))
        other_bot = await bot.post(body, headers=signed_headers(body, bot_id="1"))
        unsigned = await bot.post(body, headers={"Content-Type": "application/json"})
        rows = await bot.inbox()
    for reply in (wrong, other_bot, unsigned):
        assert reply.status == 401 and reply.body["error"] == "bad_signature"
    assert rows == []


async def test_malformed_callback_is_400_naming_the_field(database_url: str) -> None:
    body = callback()
    del body["source"]["userId"]
    async with lineworks_edge(database_url) as bot:
        reply = await bot.post(body)
        rows = await bot.inbox()
    assert reply.status == 400 and reply.body["field"] == "source.userId"
    assert rows == []


async def test_duplicate_delivery_is_handled_once(database_url: str) -> None:
    body = callback(text="ヘルプ")
    async with lineworks_edge(database_url) as bot:
        first = await bot.post(body)
        second = await bot.post(body)
        await bot.settle()
        reserialized = json.dumps(body, ensure_ascii=True, indent=1).encode()
        late = await bot.post(reserialized)
        await bot.settle()
        rows = await bot.inbox()
    assert first.body == {"ok": True}
    assert second.body == {"ok": True, "duplicate": True}
    assert late.body == {"ok": True, "duplicate": True}
    assert len(rows) == 1 and len(bot.platform.deliveries) == 1


async def test_membership_events_are_acked_without_storing(database_url: str) -> None:
    async with lineworks_edge(database_url) as bot:
        replies = [
            await bot.post(recorded(name, issuedTime=issued_time()))
            for name in ("join", "joined", "left", "leave")
        ]
        rows = await bot.inbox()
    assert [r.status for r in replies] == [200] * 4
    assert rows == []


async def test_group_message_is_answered_in_the_group(database_url: str) -> None:
    async with lineworks_edge(database_url) as bot:
        texts = await bot.exchange(callback(text="ヘルプ", channel=GROUP))
    assert texts and HELP_MARK in texts[0]
    assert {(d.kind, d.target) for d in bot.platform.deliveries} == {("channels", GROUP)}


# 2026-12-01 10:00 JST: 令和8年度
REPORT_NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


async def test_report_in_japanese_with_a_mistake_and_a_button(database_url: str) -> None:
    async with lineworks_edge(database_url, clock=FrozenClock(REPORT_NOW)) as bot:
        opened = await bot.say("課題を報告")
        assert opened[1].startswith("(1/9) あなたの所属課")
        await bot.say("市民課")
        await bot.say("住民票の交付")
        too_short = await bot.say("紙")
        assert "5文字" in too_short[0] and "(3/9)" in too_short[0]
        await bot.say("紙の申請書をExcelに手入力で転記している")
        asked = await bot.say("申請内容が最初からデータで届き、転記が不要になる")
        assert asked[0].startswith("(5/9)")
        question = bot.platform.deliveries[-1]
        assert question.content["type"] == "button_template"
        assert set(question.choices) == {"毎日", "毎週", "毎月", "年に数回"}
        minutes_q = await bot.press("毎日")
        assert minutes_q[0].startswith("(6/9)")
        for answer in ("30分", "3人", "スキップ"):
            await bot.say(answer)
        summary = await bot.say("はい")
        assert "1. 所属課: 市民課" in summary[0]
        receipt = await bot.say("送信")
        assert "受付番号は R8-0001" in receipt[0]
        async with bot.runtime.sessions() as session:
            [issue] = list(await session.scalars(select(Issue)))
        rows = await bot.inbox()
    assert issue.number == "R8-0001" and issue.answers["frequency"] == "daily"
    pressed = [r.payload for r in rows if r.payload["type"] == "action"]
    assert len(pressed) == 1 and pressed[0]["extra"] == {"typed": "毎日"}
    assert {(d.kind, d.target) for d in bot.platform.deliveries} == {("users", "U001")}


async def test_reminder_to_a_user_id_goes_to_the_user_endpoint(database_url: str) -> None:
    async with lineworks_edge(database_url) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            message = OutgoingMessage(
                "当番のお知らせ: 本日は課題の確認日です",
                choices=(Choice("確認しました", "duty_ack", "7"),),
                user_id=USER,
            )
            await outbox.enqueue(session, "lineworks", message, datetime.now(UTC))
        await bot.runtime.dispatcher.drain(5)
        [row] = await bot.outbox()
    [delivery] = bot.platform.deliveries
    assert (delivery.kind, delivery.target) == ("users", USER)
    assert delivery.content == {
        "type": "button_template",
        "contentText": "当番のお知らせ: 本日は課題の確認日です",
        "actions": [{"type": "message", "label": "確認しました", "postback": "duty_ack:7"}],
    }
    assert row.status == outbox.SENT and row.attempts == 1


@pytest.mark.parametrize(
    ("script", "attempts"),
    # A 429 is the platform's pacing, not a failed try: it does not count.
    [([(429, 1)], 1), ([(429, None)], 1), ([500, 502], 3), (["hang"], 2), ([401], 1)],
)
async def test_outbound_failures_are_retried_by_the_dispatcher(
    database_url: str, script: list[Any], attempts: int
) -> None:
    async with lineworks_edge(database_url, send_timeout=0.3) as bot:
        bot.platform.script.extend(script)
        texts = await bot.say("ヘルプ")
        [row] = await bot.outbox()
    assert len(texts) == 1 and HELP_MARK in texts[0]
    assert row.status == outbox.SENT and row.attempts == attempts
    assert bot.platform.token_requests == (2 if script == [401] else 1)


async def test_rejected_message_is_dead_lettered_with_the_reason(database_url: str) -> None:
    async with lineworks_edge(database_url) as bot:
        bot.platform.script.append(400)
        texts = await bot.say("ヘルプ")
        [row] = await bot.outbox()
    assert texts == []
    assert row.status == outbox.DEAD and row.attempts == 1
    assert row.last_error is not None and "HTTP 400 INVALID_PARAMETER" in row.last_error


def test_recorded_payloads_are_all_exercised() -> None:
    names = {p.stem for p in PAYLOADS.glob("*.json")}
    assert names == {
        "message_text_direct",
        "message_text_group",
        "message_text_button",
        "message_text_start",
        "message_text_command",
        "message_image",
        "message_file",
        "message_sticker",
        "message_location",
        "postback",
        "join",
        "leave",
        "joined",
        "left",
    }


def test_the_registry_finds_the_adapter(tmp_path: Path) -> None:
    from bot.adapters.registry import platform_factories

    built = [make(_settings(tmp_path)) for make in platform_factories()]
    assert [a.name for a in built if isinstance(a, LineWorksAdapter)] == ["lineworks"]
