"""SlackAdapter: Slack's signed requests in, the Web API out, through the real edge and outbox.

Inbound requests are the recorded payloads in ``slack_payloads/`` (shaped after Slack's
documentation), signed as Slack signs them; outbound calls go to ``tests.fake_slack.FakeSlack``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.adapters.base import (
    Ack,
    Batch,
    DeliveryError,
    PayloadError,
    RawRequest,
    SignatureError,
)
from bot.adapters.registry import platform_factories
from bot.adapters.slack import SlackAdapter, from_settings
from bot.adapters.slack_blocks import message_blocks
from bot.clock import Clock, FrozenClock
from bot.dispatcher import OutboxDispatcher
from bot.events import Event, EventType
from bot.messages import Attachment, Choice, OutgoingMessage
from bot.runtime import Runtime, webhooks_from_settings
from config.settings import OutboxSettings, Settings
from storage.issues import Issue
from storage.models import InboxEvent, OutboxMessage
from tests.conftest import fast_settings
from tests.edge import Reply, start_client
from tests.fake_slack import (
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    FakeSlack,
    app_mention,
    block_actions,
    dm_channel,
    encode,
    message_im,
    recorded,
    signed_headers,
    slash_command,
)

NOW = 1_700_000_000  # long past: verify must use the time it is given, not the wall clock
HELP_MARK = "できること"
REPORT_DAY = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 令和8年度


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk sends through $HTTPS_PROXY (ignoring NO_PROXY): keep the fake reachable."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def _adapter(**kw: Any) -> SlackAdapter:
    return SlackAdapter(SIGNING_SECRET, BOT_TOKEN, **kw)


def _request(body: bytes, *, timestamp: int = NOW, **kw: Any) -> RawRequest:
    return RawRequest(headers=signed_headers(body, timestamp=timestamp, **kw), body=body)


def _parse(body: bytes | dict[str, Any]) -> Event | Ack | Batch:
    raw = body if isinstance(body, bytes) else encode(body)
    return _adapter().parse(_request(raw))


def _event(body: bytes | dict[str, Any]) -> Event:
    parsed = _parse(body)
    if isinstance(parsed, Batch):  # commands and presses: stored, then an empty 200
        assert parsed.ack == Ack(200, None)
        [parsed] = parsed.events
    assert isinstance(parsed, Event), parsed
    return parsed


def _field_error(body: bytes | dict[str, Any]) -> str:
    with pytest.raises(PayloadError) as caught:
        _parse(body)
    return caught.value.field


# -- verify ------------------------------------------------------------------------------


def test_verify_accepts_slacks_signature_at_the_given_time() -> None:
    body = encode(recorded("message_im.json"))
    adapter = _adapter()
    adapter.verify(_request(body), NOW)
    adapter.verify(_request(body, timestamp=NOW - 300), NOW)  # the whole window, both sides
    adapter.verify(_request(body, timestamp=NOW + 300), NOW)


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_verify_rejects_a_stale_timestamp(skew: int) -> None:
    body = encode(recorded("message_im.json"))
    with pytest.raises(SignatureError, match="window"):
        _adapter().verify(_request(body, timestamp=NOW + skew), NOW)


def test_verify_rejects_other_secret_other_body_and_missing_headers() -> None:
    body = encode(recorded("message_im.json"))
    adapter = _adapter()
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(_request(body, secret="another-secret"), NOW)
    forged = RawRequest(headers=signed_headers(b"{}", timestamp=NOW), body=body)
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(forged, NOW)
    for missing in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
        headers = signed_headers(body, timestamp=NOW)
        del headers[missing]
        with pytest.raises(SignatureError, match="missing"):
            adapter.verify(RawRequest(headers=headers, body=body), NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body"),
    [("17e8", "v0=00", b"{}"), ("１７００", "v0=00", b"{}"), (str(NOW), "v0=é", b"{}")],
)
def test_verify_rejects_malformed_headers(timestamp: str, signature: str, body: bytes) -> None:
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    with pytest.raises(SignatureError):
        _adapter().verify(RawRequest(headers=headers, body=body), NOW)


def test_verify_rejects_a_body_that_is_not_utf8() -> None:
    body = b"\xff\xfe{}"
    with pytest.raises(SignatureError):
        _adapter().verify(_request(body), NOW)


def test_verify_reads_headers_in_any_case() -> None:
    body = encode(recorded("url_verification.json"))
    headers = {k.lower(): v for k, v in signed_headers(body, timestamp=NOW).items()}
    _adapter().verify(RawRequest(headers=headers, body=body), NOW)


def test_ssl_check_is_answered_unsigned_but_a_command_is_not() -> None:
    probe = b"ssl_check=1&token=gIkuvaNzQIHg97ATvDxqgjtO"
    adapter = _adapter()
    adapter.verify(RawRequest(headers={}, body=probe), NOW)
    assert adapter.parse(RawRequest(headers={}, body=probe)) == Ack(200, {"ok": True})
    sneaky = b"ssl_check=1&" + slash_command("help")
    with pytest.raises(SignatureError):
        adapter.verify(RawRequest(headers={}, body=sneaky), NOW)


# -- parse: the recorded payloads --------------------------------------------------------


def test_url_verification_answers_the_challenge() -> None:
    body = recorded("url_verification.json")
    assert _parse(body) == Ack(200, {"challenge": body["challenge"]})


def test_direct_message_is_a_direct_message_event() -> None:
    body = recorded("message_im.json")
    event = _event(body)
    assert event.adapter == "slack" and event.type == EventType.MESSAGE
    assert event.event_id == "Ev0PV52K21"
    assert event.text == "課題を報告"
    assert event.user.id == "U2147483697"
    # A direct chat is its person: one key for messages, commands and buttons.
    assert event.conversation.id == "user:U2147483697" and event.is_direct
    assert event.occurred_at == datetime.fromtimestamp(1355517523, UTC)


def test_app_mention_strips_the_mention_and_is_a_group_event() -> None:
    event = _event(recorded("app_mention.json"))
    assert event.text == "ヘルプ"
    assert event.conversation.id == "C123ABC456" and not event.is_direct
    assert event.event_id == "Ev123ABC456"


def test_a_mention_of_dxbot_later_in_the_text_is_removed_too() -> None:
    body = app_mention("")
    body["event"]["text"] = f"すみません <@{BOT_USER}> ヘルプ <@U0OTHER01>"
    assert _event(body).text == "すみません  ヘルプ <@U0OTHER01>"


def test_slack_entities_are_read_back_as_typed() -> None:
    body = message_im("A &amp; B &lt;仮&gt;")
    assert _event(body).text == "A & B <仮>"


def test_slash_command_is_a_command_event() -> None:
    event = _event(recorded("slash_command.txt"))
    assert event.type == EventType.COMMAND
    assert (event.command, event.text) == ("dx", "help")
    assert event.user.id == "U2147483697" and event.user.name == "tanaka.hanako"
    # Typed in a direct chat: answered in the person's direct chat with the bot.
    assert event.conversation.id == "user:U2147483697" and event.is_direct
    assert event.event_id == "command:13345224609.738474920.8088930838d88f008e0"
    assert event.occurred_at == datetime.fromtimestamp(NOW, UTC)


def test_slash_command_in_a_channel_is_a_group_event() -> None:
    event = _event(slash_command("mine", channel="C0GROUP01"))
    assert event.conversation.id == "C0GROUP01" and not event.is_direct


def test_block_actions_is_an_action_event_with_the_wire_value() -> None:
    payload = recorded("block_actions.json")
    event = _event(urlencode({"payload": json.dumps(payload)}).encode())
    assert event.type == EventType.ACTION
    assert (event.action_id, event.value) == ("form", "daily")
    assert event.message_id == "1600857119.015400"
    assert event.user.id == "U2147483697" and event.user.name == "tanaka.hanako"
    # A direct chat is its person: one key for messages, commands and buttons.
    assert event.conversation.id == "user:U2147483697" and event.is_direct
    assert event.event_id == "action:1600857123.456789:U2147483697:1600857119.015400"


@pytest.mark.parametrize(
    "name", ["message_from_bot.json", "message_changed.json"], ids=["bot", "edit"]
)
def test_bot_messages_and_edits_are_acked_and_ignored(name: str) -> None:
    assert _parse(recorded(name)) == Ack(200, {"ok": True})


def test_a_message_from_the_bot_user_itself_is_ignored() -> None:
    body = message_im("echo", user=BOT_USER)
    assert _parse(body) == Ack(200, {"ok": True})


@pytest.mark.parametrize(
    "change",
    [
        {"type": "app_rate_limited"},
        {"event": {"type": "reaction_added", "user": "U1", "reaction": "+1"}},
        {"event": {**recorded("message_im.json")["event"], "channel_type": "channel"}},
        {"event": {**recorded("app_mention.json")["event"], "subtype": "document_mention"}},
    ],
    ids=["envelope", "event-type", "channel-chatter", "canvas-mention"],
)
def test_what_dxbot_does_not_handle_is_acked(change: dict[str, Any]) -> None:
    assert _parse({**recorded("message_im.json"), **change}) == Ack(200, {"ok": True})


def test_other_interactions_are_acked() -> None:
    view = urlencode({"payload": json.dumps({"type": "view_submission", "view": {}})}).encode()
    assert _parse(view) == Ack(200, {"ok": True})


def _without(body: dict[str, Any], path: str) -> dict[str, Any]:
    node = body
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    del node[leaf]
    return body


@pytest.mark.parametrize(
    ("payload", "path", "field"),
    [
        ("message_im.json", "event.user", "event.user"),
        ("message_im.json", "event.channel", "event.channel"),
        ("message_im.json", "event.text", "event.text"),
        ("message_im.json", "event_id", "event_id"),
        ("message_im.json", "event", "event"),
        ("message_im.json", "type", "type"),
        ("url_verification.json", "challenge", "challenge"),
        ("app_mention.json", "event.user", "event.user"),
    ],
)
def test_missing_event_fields_are_named(payload: str, path: str, field: str) -> None:
    assert _field_error(_without(recorded(payload), path)) == field


@pytest.mark.parametrize("missing", ["text", "user_id", "channel_id", "trigger_id"])
def test_missing_command_fields_are_named(missing: str) -> None:
    fields = dict(_form_fields(recorded("slash_command.txt")))
    del fields[missing]
    assert _field_error(urlencode(fields).encode()) == missing


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("user", "payload.user"),
        ("user.id", "payload.user.id"),
        ("container", "payload.container"),
        ("container.message_ts", "payload.container.message_ts"),
        ("actions", "payload.actions"),
        ("actions.0.value", "payload.actions[0].value"),
        ("actions.0.action_ts", "payload.actions[0].action_ts"),
    ],
)
def test_missing_action_fields_are_named(path: str, field: str) -> None:
    payload = recorded("block_actions.json")
    node: Any = payload
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[leaf]
    assert _field_error(urlencode({"payload": json.dumps(payload)}).encode()) == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"type": "event_callback", ', "body"),
        (b"[]", "body"),
        (b"{\xff}", "body"),
        (b"payload=%7Bnot+json", "payload"),
        (b"payload=%5B%5D", "payload"),
        (b"token=x&team_id=T1", "body"),
        (b"&&=", "body"),
        (b"", "body"),
    ],
)
def test_malformed_bodies_are_named(body: bytes, field: str) -> None:
    assert _field_error(body) == field


def test_nul_characters_never_reach_storage() -> None:
    assert _field_error(message_im("a\x00b")) == "event.text"
    fields = dict(_form_fields(slash_command("help")))
    fields["user_name"] = "bad\x00name"
    assert _event(urlencode(fields).encode()).user.name == ""


def _form_fields(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode(), keep_blank_values=True)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["message", "app_mention", "im", "event_callback", "block_actions", "D1"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PATHS = {
    "message_im.json": [
        "type",
        "event_id",
        "event_time",
        "authorizations",
        "event",
        "event.type",
        "event.user",
        "event.text",
        "event.channel",
        "event.channel_type",
        "event.subtype",
        "event.bot_id",
    ],
    "block_actions.json": ["type", "user", "user.id", "user.name", "container", "actions"],
}


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """A recorded payload with a few fields replaced by arbitrary JSON values."""
    name = draw(st.sampled_from(sorted(PATHS)))
    payload = recorded(name)
    for path in draw(st.lists(st.sampled_from(PATHS[name]), max_size=4)):
        *parents, leaf = path.split(".")
        node: Any = payload
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[leaf] = draw(json_values)
    text = json.dumps(payload)
    if name == "block_actions.json":
        return urlencode({"payload": text}).encode()
    return text.encode()


@settings(max_examples=300, deadline=None)
@given(
    mutated_bodies()
    | st.dictionaries(st.text(max_size=12), json_values, max_size=8).map(lambda d: encode(d))
    | st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=6).map(
        lambda d: urlencode(d).encode()
    )
)
def test_parse_of_anything_is_an_event_an_ack_or_a_payload_error(body: bytes) -> None:
    try:
        parsed = _parse(body)
    except PayloadError as exc:
        assert exc.field
        return
    if isinstance(parsed, Ack):
        assert parsed.status == 200
        return
    for event in parsed.events if isinstance(parsed, Batch) else (parsed,):
        stored = json.dumps(event.to_json(), ensure_ascii=False)  # storable as it is
        assert "\x00" not in stored


# -- Block Kit ---------------------------------------------------------------------------


def test_choices_become_rows_of_at_most_five_buttons_under_a_plain_section() -> None:
    choices = [Choice(f"選択肢{i}", "pick", str(i)) for i in range(7)]
    blocks = message_blocks("どれにしますか?", choices)
    assert blocks[0] == {
        "type": "section",
        "text": {"type": "plain_text", "text": "どれにしますか?"},
    }
    rows = [b["elements"] for b in blocks[1:]]
    assert [len(r) for r in rows] == [5, 2]
    buttons = [button for row in rows for button in row]
    assert [b["action_id"] for b in buttons] == [f"dx{i}" for i in range(7)]
    assert buttons[3]["value"] == "pick:3"
    assert buttons[3]["text"] == {"type": "plain_text", "text": "選択肢3"}


def test_long_labels_are_cut_to_slacks_75_characters() -> None:
    [_, row] = message_blocks("x", [Choice("長" * 100, "a")])
    label = row["elements"][0]["text"]["text"]
    assert len(label) == 75 and label.endswith("…")


def test_text_only_message_has_just_the_section() -> None:
    assert [b["type"] for b in message_blocks("お知らせ", [])] == ["section"]
    assert message_blocks("", []) == []


# -- from_settings and the registry ------------------------------------------------------


def test_from_settings_needs_a_signing_secret_and_then_a_token() -> None:
    assert from_settings(Settings()) is None
    with pytest.raises(ValueError, match="DXBOT_SLACK_BOT_TOKEN"):
        from_settings(Settings.model_validate({"slack": {"signing_secret": "s"}}))
    adapter = from_settings(
        Settings.model_validate({"slack": {"signing_secret": "s", "bot_token": "xoxb-1"}})
    )
    assert isinstance(adapter, SlackAdapter) and adapter.name == "slack"
    assert adapter.capabilities.buttons and adapter.capabilities.files
    assert adapter.capabilities.max_text_length == 3000


def test_environment_variables_enable_slack_in_the_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DXBOT_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("DXBOT_SLACK_BOT_TOKEN", BOT_TOKEN)
    built = [make(Settings()) for make in platform_factories()]
    assert [type(a) for a in built if a is not None] == [SlackAdapter]
    found = webhooks_from_settings(Settings())
    assert isinstance(found["slack"], SlackAdapter)


# -- send, against the fake Web API ------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack(hang_seconds=2.0).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def adapter(slack: FakeSlack) -> AsyncIterator[SlackAdapter]:
    made = _adapter(api_url=slack.url, send_timeout_seconds=5)
    yield made
    await made.close()


async def test_send_posts_blocks_fallback_text_and_the_outbox_key(
    adapter: SlackAdapter, slack: FakeSlack
) -> None:
    message = OutgoingMessage(
        text="どの色? <赤> & 青",
        choices=(Choice("赤", "colour", "red"), Choice("青", "colour", "blue")),
        conversation_id="D0TANAKA",
        in_reply_to="1600857119.015400",
    )
    ref = await adapter.send(message, "key-1")
    [call] = slack.calls
    assert call.method == "chat.postMessage"
    assert call.authorization == f"Bearer {BOT_TOKEN}"
    assert call.args["channel"] == "D0TANAKA"
    assert call.args["text"] == "どの色? &lt;赤&gt; &amp; 青"
    assert call.shown == "どの色? <赤> & 青"
    assert call.buttons == {"赤": "colour:red", "青": "colour:blue"}
    assert call.args["metadata"] == {
        "event_type": "dxbot_outbox",
        "event_payload": {"idempotency_key": "key-1"},
    }
    assert "thread_ts" not in call.args
    assert ref.message_id == call.result["ts"]


async def test_send_to_a_user_opens_the_direct_chat_once(
    adapter: SlackAdapter, slack: FakeSlack
) -> None:
    await adapter.send(OutgoingMessage(text="一通目", user_id="U001"), "k1")
    await adapter.send(OutgoingMessage(text="二通目", user_id="U001"), "k2")
    assert [c.method for c in slack.calls] == [
        "conversations.open",
        "chat.postMessage",
        "chat.postMessage",
    ]
    assert slack.calls[0].args["users"] == "U001"
    assert [c.args["channel"] for c in slack.posted()] == [dm_channel("U001")] * 2


async def test_send_attachment_uploads_the_file_with_the_text(
    adapter: SlackAdapter, slack: FakeSlack
) -> None:
    data = "番号,件名\nR8-0001,住民票\n".encode()
    message = OutgoingMessage(
        text="一覧です",
        attachment=Attachment("課題一覧.csv", "text/csv", data),
        conversation_id="D0TANAKA",
    )
    ref = await adapter.send(message, "k")
    methods = [c.method for c in slack.calls]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    assert slack.calls[0].args["filename"] == "課題一覧.csv"
    assert slack.calls[0].args["length"] == str(len(data))
    complete = slack.calls[1].args
    assert complete["channel_id"] == "D0TANAKA" and complete["initial_comment"] == "一覧です"
    assert list(slack.uploads.values()) == [data]
    assert ref.message_id == json.loads(complete["files"])[0]["id"]


@pytest.mark.parametrize(
    ("step", "retryable", "retry_after", "reason"),
    [
        ((429, 7), True, 7.0, "ratelimited"),
        (500, True, None, "HTTP 500"),
        (503, True, None, "HTTP 503"),
        ("internal_error", True, None, "internal_error"),
        ("invalid_auth", False, None, "invalid_auth"),
        ("channel_not_found", False, None, "channel_not_found"),
    ],
)
async def test_send_failures_say_whether_to_retry(
    adapter: SlackAdapter,
    slack: FakeSlack,
    step: Any,
    retryable: bool,
    retry_after: float | None,
    reason: str,
) -> None:
    slack.script.append(step)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(OutgoingMessage(text="x", conversation_id="C1"), "k")
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert caught.value.reason == f"slack chat.postMessage: {reason}"


async def test_send_timeout_is_retryable(slack: FakeSlack) -> None:
    adapter = _adapter(api_url=slack.url, send_timeout_seconds=0.2)
    slack.script.append("hang")
    try:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(OutgoingMessage(text="x", conversation_id="C1"), "k")
    finally:
        await adapter.close()
    assert caught.value.retryable is True
    assert "TimeoutError" in caught.value.reason
    assert slack.requests == 1  # slack_sdk's own retries are off: the outbox decides


async def test_send_to_an_unreachable_slack_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = _adapter(api_url=f"http://127.0.0.1:{port}/api/")
    try:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(OutgoingMessage(text="x", conversation_id="C1"), "k")
    finally:
        await adapter.close()
    assert caught.value.retryable is True and "unreachable" in caught.value.reason


async def test_a_choice_value_slack_would_refuse_is_not_retried(adapter: SlackAdapter) -> None:
    message = OutgoingMessage(text="x", choices=(Choice("a", "b", "v" * 2001),), user_id="U1")
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(message, "k")
    assert caught.value.retryable is False


async def test_close_releases_the_session_and_a_later_send_opens_another(
    adapter: SlackAdapter, slack: FakeSlack
) -> None:
    await adapter.send(OutgoingMessage(text="1", conversation_id="C1"), "k1")
    await adapter.close()
    await adapter.send(OutgoingMessage(text="2", conversation_id="C1"), "k2")
    assert slack.texts == ["1", "2"]


# -- through the real OutboxDispatcher ---------------------------------------------------

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


async def _queue(sessions: async_sessionmaker[AsyncSession], text: str) -> None:
    async with sessions() as session, session.begin():
        await outbox.enqueue(
            session, "slack", OutgoingMessage(text, conversation_id="D0TANAKA"), START
        )


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _dispatcher(
    sessions: async_sessionmaker[AsyncSession], adapter: SlackAdapter, clock: Clock
) -> OutboxDispatcher:
    settings = OutboxSettings(
        base_delay_seconds=1.0, max_delay_seconds=300.0, max_attempts=4, lease_seconds=30
    )
    return OutboxDispatcher(sessions, {"slack": adapter}, settings, clock)


async def test_outbox_honours_slacks_retry_after(
    sessions: async_sessionmaker[AsyncSession], adapter: SlackAdapter, slack: FakeSlack
) -> None:
    clock = FrozenClock(START)
    slack.script.append((429, 30))
    await _queue(sessions, "お知らせ")
    dispatcher = _dispatcher(sessions, adapter, clock)
    await dispatcher.drain(5)
    [row] = await _rows(sessions)
    assert row.status == outbox.PENDING
    assert row.last_error == "slack chat.postMessage: ratelimited"
    assert row.next_attempt_at == START.replace(second=30)
    clock.advance(seconds=29)
    await dispatcher.drain(1)
    assert slack.texts == []
    clock.advance(seconds=2)
    await dispatcher.drain(5)
    [row] = await _rows(sessions)
    # A 429 is Slack's pacing, not a failed try: only the delivery counts.
    assert slack.texts == ["お知らせ"] and row.status == outbox.SENT and row.attempts == 1


@pytest.mark.parametrize("failure", [500, "hang"], ids=["5xx", "timeout"])
async def test_outbox_retries_slack_outages(
    sessions: async_sessionmaker[AsyncSession], slack: FakeSlack, failure: Any
) -> None:
    clock = FrozenClock(START)
    adapter = _adapter(api_url=slack.url, send_timeout_seconds=0.3)
    slack.script.append(failure)
    await _queue(sessions, "お知らせ")
    dispatcher = _dispatcher(sessions, adapter, clock)
    try:
        await dispatcher.drain(5)
        [row] = await _rows(sessions)
        assert row.status == outbox.PENDING and row.attempts == 1
        clock.advance(seconds=2)
        await dispatcher.drain(5)
    finally:
        await adapter.close()
    [row] = await _rows(sessions)
    assert row.status == outbox.SENT and row.attempts == 2
    assert row.platform_message_id == slack.posted()[0].result["ts"]
    assert slack.texts == ["お知らせ"]


async def test_outbox_dead_letters_invalid_auth_at_once(
    sessions: async_sessionmaker[AsyncSession], adapter: SlackAdapter, slack: FakeSlack
) -> None:
    slack.script.append("invalid_auth")
    await _queue(sessions, "お知らせ")
    await _dispatcher(sessions, adapter, FrozenClock(START)).drain(5)
    [row] = await _rows(sessions)
    assert row.status == outbox.DEAD and row.attempts == 1
    assert row.last_error == "slack chat.postMessage: invalid_auth"
    assert slack.texts == []


# -- through the real HTTP edge ----------------------------------------------------------


@dataclass
class SlackEdge:
    runtime: Runtime
    client: Any
    slack: FakeSlack

    async def post(self, body: bytes, *, headers: Mapping[str, str] | None = None) -> Reply:
        form = body[:1] != b"{"
        sent = signed_headers(body, form=form) if headers is None else headers
        async with self.client.post("/hooks/slack", data=body, headers=sent) as resp:
            raw = await resp.read()
            # JSON, or empty: Slack's plain acknowledgement of a command or a press
            return Reply(resp.status, json.loads(raw) if raw else None, resp.headers)

    async def settle(self) -> None:
        await self.runtime.worker.handle_pending()
        await self.runtime.dispatcher.drain(5)

    async def inbox(self) -> list[InboxEvent]:
        async with self.runtime.sessions() as session:
            return list(await session.scalars(select(InboxEvent).order_by(InboxEvent.id)))

    async def dm(self, text: str, user: str = "U001") -> list[str]:
        """``user`` writes ``text`` in their direct chat with dxbot; what dxbot answered."""
        return await self._exchange(encode(message_im(text, user=user)))

    async def command(self, text: str, user: str = "U001", channel: str | None = None) -> list[str]:
        return await self._exchange(slash_command(text, user=user, channel=channel))

    async def press(self, label: str, user: str = "U001") -> list[str]:
        """Press the button labelled ``label`` on the last message with buttons to ``user``."""
        channel = dm_channel(user)
        asked = [c for c in self.slack.posted(channel) if c.buttons][-1]
        body = block_actions(
            asked.buttons[label], user=user, channel=channel, message_ts=asked.result["ts"]
        )
        return await self._exchange(body)

    def last_buttons(self, user: str = "U001") -> set[str]:
        return set(self.slack.posted(dm_channel(user))[-1].buttons)

    async def _exchange(self, body: bytes) -> list[str]:
        before = len(self.slack.posted())
        reply = await self.post(body)
        assert reply.status == 200, reply.body
        await self.settle()
        return [c.shown for c in self.slack.posted()[before:]]


@asynccontextmanager
async def slack_edge(database_url: str, *, clock: Clock | None = None) -> AsyncIterator[SlackEdge]:
    """dxbot behind a real HTTP server on 127.0.0.1, with Slack as its only platform."""
    slack = await FakeSlack().start()
    adapter = _adapter(api_url=slack.url)
    runtime = Runtime(
        fast_settings(database_url, http={"max_body_bytes": 16_384}),
        clock=clock,
        webhooks={"slack": adapter},
    )
    try:
        await runtime.prepare()
        client = await start_client(runtime)
        try:
            yield SlackEdge(runtime, client, slack)
        finally:
            await client.close()
    finally:
        await runtime.stop(flush_seconds=0)
        await slack.stop()


async def test_signed_direct_message_is_stored_acked_and_answered(database_url: str) -> None:
    async with slack_edge(database_url) as bot:
        body = message_im("ヘルプ", user="U100")
        reply = await bot.post(encode(body))
        rows = await bot.inbox()
        await bot.settle()
    assert reply.status == 200 and reply.body == {"ok": True}
    assert [(r.adapter, r.event_id) for r in rows] == [("slack", body["event_id"])]
    [answer] = bot.slack.posted()
    assert answer.args["channel"] == dm_channel("U100")
    assert HELP_MARK in answer.shown


async def test_bad_signature_and_stale_timestamp_are_401_and_not_stored(
    database_url: str,
) -> None:
    body = encode(message_im("ヘルプ"))
    async with slack_edge(database_url) as bot:
        forged = await bot.post(body, headers=signed_headers(body, secret="not-the-secret"))
        stale = await bot.post(body, headers=signed_headers(body, timestamp=int(time.time()) - 400))
        unsigned = await bot.post(body, headers={"Content-Type": "application/json"})
        rows = await bot.inbox()
    for reply in (forged, stale, unsigned):
        assert reply.status == 401 and reply.body["error"] == "bad_signature"
    assert "window" in stale.body["message"]
    assert rows == [] and bot.slack.calls == []


async def test_slack_retry_of_a_known_event_is_handled_once(database_url: str) -> None:
    body = encode(message_im("ヘルプ"))
    async with slack_edge(database_url) as bot:
        first = await bot.post(body)
        retry = await bot.post(body, headers=signed_headers(body, retry=1))
        await bot.settle()
        late = await bot.post(body, headers=signed_headers(body, retry=2))
        await bot.settle()
        rows = await bot.inbox()
    assert first.status == retry.status == late.status == 200
    assert retry.body == {"ok": True, "duplicate": True}
    assert len(rows) == 1 and len(bot.slack.posted()) == 1


async def test_url_verification_through_the_edge(database_url: str) -> None:
    body = recorded("url_verification.json")
    async with slack_edge(database_url) as bot:
        reply = await bot.post(encode(body))
        rows = await bot.inbox()
    assert reply.status == 200 and reply.body == {"challenge": body["challenge"]}
    assert rows == []


async def test_ignored_and_malformed_requests_store_nothing(database_url: str) -> None:
    async with slack_edge(database_url) as bot:
        own = await bot.post(encode(recorded("message_from_bot.json")))
        broken = await bot.post(encode(_without(message_im("x"), "event.user")))
        rows = await bot.inbox()
    assert own.status == 200 and own.body == {"ok": True}
    assert broken.status == 400 and broken.body["field"] == "event.user"
    assert rows == []


async def test_slash_command_help_is_answered_through_the_outbox(database_url: str) -> None:
    async with slack_edge(database_url) as bot:
        reply = await bot.post(slash_command("help", user="U200"))
        rows = await bot.inbox()
        await bot.settle()
    assert reply.status == 200 and reply.body is None  # Slack shows a JSON body to the user
    assert rows[0].payload["type"] == "command" and rows[0].payload["command"] == "dx"
    [answer] = bot.slack.posted()
    assert answer.args["channel"] == dm_channel("U200")
    assert HELP_MARK in answer.shown and "/dx help" in answer.shown


async def test_a_command_typed_in_a_chat_between_two_people_is_answered_to_the_person(
    database_url: str,
) -> None:
    """Slack sends "directmessage" for a direct chat between two colleagues too; the bot is not
    in it, so posting there fails (channel_not_found). The answer, and a form started there,
    go to the person's direct chat with the bot."""
    async with slack_edge(database_url, clock=FrozenClock(REPORT_DAY)) as bot:
        bot.slack.outside.add("D0COLLEAGUE")
        reply = await bot.post(
            slash_command("report", user="U300", channel="D0COLLEAGUE", direct=True)
        )
        await bot.settle()
        assert reply.status == 200
        assert bot.slack.posted(channel="D0COLLEAGUE") == []
        started = [call.shown for call in bot.slack.posted(channel=dm_channel("U300"))]
        assert "「課題の報告」を始めます" in started[0]
        assert started[1].startswith("(1/9) あなたの所属課")
        section_q = await bot.dm("市民", user="U300")  # answered in the chat with the bot
        assert section_q == ["「市民」は「市民課」のことですか?"]


async def test_buttons_offered_after_a_command_are_cleared_by_a_later_message_reply(
    database_url: str,
) -> None:
    """The help menu offered after /dx help, then a message answered without buttons: a typed
    「1」 afterwards is not the menu's first button. (With the command and the messages under
    two conversation ids, the menu stayed live under the command's.)"""
    async with slack_edge(database_url) as bot:
        await bot.command("help", user="U300")
        assert bot.last_buttons("U300")
        await bot.dm("よろしく", user="U300")
        typed = await bot.dm("1", user="U300")
    assert not any("「課題の報告」を始めます" in text for text in typed)


async def test_mention_in_a_channel_is_answered_in_the_channel(database_url: str) -> None:
    async with slack_edge(database_url) as bot:
        reply = await bot.post(encode(app_mention("ヘルプ", channel="C0GROUP01")))
        await bot.settle()
    assert reply.status == 200
    [answer] = bot.slack.posted()
    assert answer.args["channel"] == "C0GROUP01" and HELP_MARK in answer.shown


async def test_japanese_report_through_slack_payloads(database_url: str) -> None:
    async with slack_edge(database_url, clock=FrozenClock(REPORT_DAY)) as bot:
        opened = await bot.dm("課題を報告")
        assert "「課題の報告」を始めます" in opened[0]
        assert opened[1].startswith("(1/9) あなたの所属課")

        assert await bot.dm("市民") == ["「市民」は「市民課」のことですか?"]
        work_q = await bot.press("はい")  # a real block_actions button press
        assert work_q[0].startswith("(2/9) 困っている業務")

        await bot.dm("住民票の交付")
        too_short = await bot.dm("紙")  # an invalid answer is explained, the question repeated
        assert "5文字" in too_short[0] and "(3/9)" in too_short[0]
        await bot.dm("紙の申請書をExcelに手入力で転記している")
        frequency_q = await bot.dm("申請内容が最初からデータで届き、転記が不要になる")
        assert frequency_q[0].startswith("(5/9)")
        assert bot.last_buttons() == {"毎日", "毎週", "毎月", "年に数回"}

        minutes_q = await bot.press("毎日")
        assert minutes_q[0].startswith("(6/9)")
        await bot.dm("６０分")  # full-width digits
        await bot.dm("５人")
        ideas_q = await bot.dm("スキップ")
        assert ideas_q[0].startswith("(9/9)")
        summary = await bot.dm("はい")
        assert "1. 所属課: 市民課" in summary[0]
        assert "6. 1回あたりの所要時間: 60分" in summary[0]
        assert bot.last_buttons() >= {"送信する", "修正する", "やめる"}

        receipt = await bot.press("送信する")
        assert "受付番号は R8-0001" in receipt[0]
        async with bot.runtime.sessions() as session:
            [issue] = list(await session.scalars(select(Issue)))
    assert issue.number == "R8-0001" and issue.section == "市民課"
    assert issue.answers["minutes"] == 60 and issue.answers["staff"] == 5
    assert all(c.args["channel"] == dm_channel("U001") for c in bot.slack.posted())
