"""RelayAdapter: signature checks, payload validation and delivery to a fake gateway."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.base import DeliveryError, PayloadError, RawRequest, SignatureError
from bot.adapters.relay import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RelayAdapter,
    parse_retry_after,
    sign,
)
from bot.events import Event, EventType
from bot.messages import Choice, OutgoingMessage
from tests.builders import RELAY_SECRET, encode, relay_payload, signed_headers
from tests.fakes import FakeRelayPlatform

NOW = 1_700_000_000


def _request(payload: dict[str, Any] | bytes, **headers: str) -> RawRequest:
    body = payload if isinstance(payload, bytes) else encode(payload)
    return RawRequest(headers=headers, body=body)


def _signed(body: bytes, *, timestamp: int = NOW, secret: str = RELAY_SECRET) -> RawRequest:
    return RawRequest(headers=signed_headers(body, secret=secret, timestamp=timestamp), body=body)


def _parse(payload: dict[str, Any] | bytes) -> Event:
    return RelayAdapter(RELAY_SECRET).parse(_request(payload))


def _field_error(payload: dict[str, Any] | bytes) -> str:
    with pytest.raises(PayloadError) as caught:
        _parse(payload)
    return caught.value.field


# -- verify ------------------------------------------------------------------------------


def test_verify_accepts_a_good_signature() -> None:
    body = encode(relay_payload())
    RelayAdapter(RELAY_SECRET).verify(_signed(body), NOW)
    # the whole tolerance window is accepted, on both sides
    RelayAdapter(RELAY_SECRET).verify(_signed(body, timestamp=NOW - 300), NOW)
    RelayAdapter(RELAY_SECRET).verify(_signed(body, timestamp=NOW + 300), NOW)


def test_signature_covers_version_timestamp_and_body() -> None:
    base = f"v1:{NOW}:".encode() + b"{}"
    expected = "v1=" + hmac.new(RELAY_SECRET.encode(), base, hashlib.sha256).hexdigest()
    assert sign(RELAY_SECRET, str(NOW), b"{}") == expected
    assert sign(RELAY_SECRET, str(NOW + 1), b"{}") != expected
    assert sign("other", str(NOW), b"{}") != expected


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_verify_rejects_missing_headers(missing: str) -> None:
    body = encode(relay_payload())
    headers = dict(signed_headers(body, timestamp=NOW))
    del headers[missing]
    with pytest.raises(SignatureError, match="missing"):
        RelayAdapter(RELAY_SECRET).verify(RawRequest(headers=headers, body=body), NOW)


def test_verify_rejects_no_headers_at_all() -> None:
    with pytest.raises(SignatureError):
        RelayAdapter(RELAY_SECRET).verify(RawRequest(headers={}, body=b"{}"), NOW)


def test_verify_rejects_wrong_secret() -> None:
    body = encode(relay_payload())
    with pytest.raises(SignatureError, match="does not match"):
        RelayAdapter(RELAY_SECRET).verify(_signed(body, secret="not-the-secret"), NOW)


def test_during_a_change_of_secret_both_are_accepted_and_nothing_else() -> None:
    """``[relay] previous_secret``: the gateway may switch to the new secret before or after
    dxbot restarts with it; a third value is still refused."""
    from bot.runtime import relay_from_settings
    from config.settings import Settings

    settings = Settings.model_validate(
        {"relay": {"secret": "new-secret", "previous_secret": RELAY_SECRET}}
    )
    relay = relay_from_settings(settings)
    assert relay is not None
    body = encode(relay_payload())
    relay.verify(_signed(body, secret="new-secret"), NOW)
    relay.verify(_signed(body, secret=RELAY_SECRET), NOW)
    with pytest.raises(SignatureError, match="does not match"):
        relay.verify(_signed(body, secret="not-the-secret"), NOW)
    only_new = relay_from_settings(Settings.model_validate({"relay": {"secret": "new-secret"}}))
    assert only_new is not None
    with pytest.raises(SignatureError, match="does not match"):
        only_new.verify(_signed(body, secret=RELAY_SECRET), NOW)


def test_verify_rejects_signature_made_for_another_body() -> None:
    body = encode(relay_payload(text="ヘルプ"))
    other = encode(relay_payload(text="こんにちは"))
    headers = signed_headers(other, timestamp=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        RelayAdapter(RELAY_SECRET).verify(RawRequest(headers=headers, body=body), NOW)


def test_verify_rejects_signature_moved_to_another_timestamp() -> None:
    body = encode(relay_payload())
    headers = dict(signed_headers(body, timestamp=NOW))
    headers[TIMESTAMP_HEADER] = str(NOW + 1)
    with pytest.raises(SignatureError, match="does not match"):
        RelayAdapter(RELAY_SECRET).verify(RawRequest(headers=headers, body=body), NOW)


@pytest.mark.parametrize("timestamp", ["abc", "1700000000.5", "", "0x10"])
def test_verify_rejects_non_integer_timestamp(timestamp: str) -> None:
    body = encode(relay_payload())
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(RELAY_SECRET, "0", body)}
    with pytest.raises(SignatureError):
        RelayAdapter(RELAY_SECRET).verify(RawRequest(headers=headers, body=body), NOW)


@pytest.mark.parametrize("offset", [-301, 301, -10_000_000])
def test_verify_rejects_timestamp_outside_the_window(offset: int) -> None:
    body = encode(relay_payload())
    with pytest.raises(SignatureError, match="window"):
        RelayAdapter(RELAY_SECRET).verify(_signed(body, timestamp=NOW + offset), NOW)


def test_verify_uses_the_configured_tolerance() -> None:
    body = encode(relay_payload())
    strict = RelayAdapter(RELAY_SECRET, tolerance_seconds=10)
    strict.verify(_signed(body, timestamp=NOW - 10), NOW)
    with pytest.raises(SignatureError):
        strict.verify(_signed(body, timestamp=NOW - 11), NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (str(NOW), "v1=é"),  # compare_digest refuses non-ASCII str -> TypeError
        ("١٧٠٠٠٠٠٠٠٠", "v1=00"),  # int() reads Arabic-Indic digits; sign() -> UnicodeEncodeError
    ],
    ids=["non-ascii-signature", "non-ascii-digits-timestamp"],
)
def test_verify_rejects_non_ascii_headers_as_bad_signature(timestamp: str, signature: str) -> None:
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}
    with pytest.raises(SignatureError):
        RelayAdapter(RELAY_SECRET).verify(RawRequest(headers=headers, body=b"{}"), NOW)


# -- parse -------------------------------------------------------------------------------


def test_parse_message() -> None:
    payload = relay_payload(
        text="ヘルプ", user="U9", name="山田 太郎", conversation="room-1", conversation_kind="group"
    )
    payload["occurred_at"] = "2024-04-01T09:30:00+09:00"
    event = _parse(payload)
    assert event.adapter == "relay"
    assert event.event_id == payload["event_id"]
    assert event.type == EventType.MESSAGE
    assert event.text == "ヘルプ"
    assert (event.user.id, event.user.name) == ("U9", "山田 太郎")
    assert (event.conversation.id, event.conversation.kind) == ("room-1", "group")
    assert event.occurred_at == datetime(2024, 4, 1, 0, 30, tzinfo=UTC)
    assert event.command is None and event.action_id is None


def test_parse_naive_timestamp_is_utc_and_empty_text_allowed() -> None:
    payload = relay_payload(text="")
    payload["occurred_at"] = "2024-04-01T09:30:00"
    event = _parse(payload)
    assert event.occurred_at == datetime(2024, 4, 1, 9, 30, tzinfo=UTC)
    assert event.text == ""


@pytest.mark.parametrize(("name", "expected"), [("/dx", "dx"), ("dx", "dx"), ("//dx", "dx")])
def test_parse_command_strips_leading_slash(name: str, expected: str) -> None:
    event = _parse(relay_payload("command", command=name, text="help"))
    assert event.type == EventType.COMMAND
    assert event.command == expected
    assert event.text == "help"


def test_parse_action_splits_value_into_action_id_and_value() -> None:
    event = _parse(relay_payload("action", value="colour:red:dark", message_id="m-7"))
    assert event.type == EventType.ACTION
    assert event.action_id == "colour"
    assert event.value == "red:dark"
    assert event.message_id == "m-7"


def test_parse_action_without_payload_or_message_id() -> None:
    event = _parse(relay_payload("action", value="menu"))
    assert (event.action_id, event.value, event.message_id) == ("menu", "", None)


def _without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    node = payload
    for part in parents:
        node = node[part]
    del node[leaf]
    return payload


def _replace(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    node = payload
    for part in parents:
        node = node[part]
    node[leaf] = value
    return payload


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("message", "event_id", "event_id"),
        ("message", "type", "type"),
        ("message", "user", "user"),
        ("message", "user.id", "user.id"),
        ("message", "user.name", "user.name"),
        ("message", "conversation", "conversation"),
        ("message", "conversation.id", "conversation.id"),
        ("message", "conversation.kind", "conversation.kind"),
        ("message", "occurred_at", "occurred_at"),
        ("message", "text", "text"),
        ("command", "command", "command"),
        ("command", "command.name", "command.name"),
        ("action", "action", "action"),
        ("action", "action.value", "action.value"),
    ],
)
def test_missing_field_is_named(kind: str, path: str, field: str) -> None:
    assert _field_error(_without(relay_payload(kind), path)) == field


@pytest.mark.parametrize(
    ("kind", "path", "value", "field"),
    [
        ("message", "event_id", 123, "event_id"),
        ("message", "event_id", "", "event_id"),
        ("message", "event_id", "x" * 256, "event_id"),
        ("message", "type", "sticker", "type"),
        ("message", "type", ["message"], "type"),
        ("message", "user", "U001", "user"),
        ("message", "user.id", 1, "user.id"),
        ("message", "user.id", "  ", "user.id"),
        ("message", "user.id", "u" * 256, "user.id"),
        ("message", "conversation", [], "conversation"),
        ("message", "conversation.id", None, "conversation.id"),
        ("message", "conversation.kind", "channel", "conversation.kind"),
        ("message", "conversation.kind", True, "conversation.kind"),
        ("message", "occurred_at", "yesterday", "occurred_at"),
        ("message", "occurred_at", 1_700_000_000, "occurred_at"),
        ("message", "text", None, "text"),
        ("message", "text", {"body": "hi"}, "text"),
        ("command", "command", "dx", "command"),
        ("command", "command.name", "", "command.name"),
        ("command", "command.name", 5, "command.name"),
        ("command", "command.text", 5, "command.text"),
        ("action", "action.value", "", "action.value"),
        ("action", "action.value", 1, "action.value"),
        ("action", "action.message_id", 7, "action.message_id"),
    ],
)
def test_wrong_field_is_named(kind: str, path: str, value: Any, field: str) -> None:
    payload = relay_payload(kind, value="colour:red")
    error_field = _field_error(_replace(payload, path, value))
    assert error_field == field


def test_ids_at_the_length_limit_are_accepted() -> None:
    payload = relay_payload(event_id="e" * 255, user="u" * 255, conversation="c" * 255)
    event = _parse(payload)
    assert len(event.event_id) == len(event.user.id) == len(event.conversation.id) == 255


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"\xff\xfe{}",
        "{}".encode("utf-16"),
        b"[]",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"42",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=[
        "empty",
        "truncated",
        "not-json",
        "invalid-utf8",
        "utf16",
        "empty-array",
        "array",
        "string",
        "null",
        "number",
        "deep-lists",
        "deep-objects",
    ],
)
def test_bad_body_is_named_body(body: bytes) -> None:
    assert _field_error(body) == "body"


def test_bad_body_reasons_are_distinct() -> None:
    reasons = set()
    for body in (b"\xff", b"{", b"[]"):
        with pytest.raises(PayloadError) as caught:
            _parse(body)
        reasons.add(caught.value.reason)
    assert len(reasons) == 3


@pytest.mark.parametrize("path", ["event_id", "user.id", "conversation.id"])
def test_nul_character_in_stored_ids_is_a_payload_error(path: str) -> None:
    assert _field_error(_replace(relay_payload(), path, "a\x00b")) == path


# -- property: parse never raises anything but PayloadError ------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["message", "command", "action", "direct", "group", "2024-01-01T00:00"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

FIELD_PATHS = [
    "event_id",
    "type",
    "occurred_at",
    "text",
    "user",
    "user.id",
    "user.name",
    "conversation",
    "conversation.id",
    "conversation.kind",
    "command",
    "command.name",
    "command.text",
    "action",
    "action.value",
    "action.message_id",
]


@st.composite
def mutated_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A valid payload of some kind with a few fields replaced by arbitrary JSON values."""
    kind = draw(st.sampled_from(["message", "command", "action"]))
    payload = relay_payload(kind)
    for path in draw(st.lists(st.sampled_from(FIELD_PATHS), max_size=4)):
        *parents, leaf = path.split(".")
        node: Any = payload
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[leaf] = draw(json_values)
    return payload


def _parse_or_payload_error(body: bytes) -> None:
    try:
        event = _parse(body)
    except PayloadError as exc:
        assert exc.field
        return
    assert isinstance(event, Event)
    assert event.adapter == "relay"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_arbitrary_bytes_only_raises_payload_error(body: bytes) -> None:
    _parse_or_payload_error(body)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8) | mutated_payloads())
def test_parse_arbitrary_objects_only_raises_payload_error(data: dict[str, Any]) -> None:
    _parse_or_payload_error(json.dumps(data).encode("utf-8"))


# -- send --------------------------------------------------------------------------------


@pytest.fixture
async def platform() -> AsyncIterator[FakeRelayPlatform]:
    fake = await FakeRelayPlatform(hang_seconds=1.0).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def relay(platform: FakeRelayPlatform) -> AsyncIterator[RelayAdapter]:
    adapter = RelayAdapter(
        RELAY_SECRET,
        outbound_url=platform.url + "/",
        outbound_token=platform.token,
        send_timeout_seconds=5,
    )
    yield adapter
    await adapter.close()


async def test_send_to_conversation_with_choices(
    relay: RelayAdapter, platform: FakeRelayPlatform
) -> None:
    message = OutgoingMessage(
        text="どの色?",
        choices=(Choice("赤", "colour", "red"), Choice("メニュー", "menu")),
        conversation_id="room-1",
        in_reply_to="m-1",
    )
    ref = await relay.send(message, "key-1")
    assert ref.message_id == "r1"
    [delivery] = platform.deliveries
    assert delivery.body == {
        "text": "どの色?",
        "conversation_id": "room-1",
        "choices": [{"label": "赤", "value": "colour:red"}, {"label": "メニュー", "value": "menu"}],
        "in_reply_to": "m-1",
    }
    assert delivery.authorization == f"Bearer {platform.token}"
    assert delivery.idempotency_key == "key-1"


async def test_send_to_user_direct_chat(relay: RelayAdapter, platform: FakeRelayPlatform) -> None:
    await relay.send(OutgoingMessage(text="お知らせ", user_id="U001"), "key-2")
    [delivery] = platform.deliveries
    assert delivery.body == {"text": "お知らせ", "user_id": "U001"}
    assert delivery.idempotency_key == "key-2"


async def test_send_without_token_has_no_authorization(platform: FakeRelayPlatform) -> None:
    adapter = RelayAdapter(RELAY_SECRET, outbound_url=platform.url)
    try:
        await adapter.send(OutgoingMessage(text="x", user_id="U1"), "k")
    finally:
        await adapter.close()
    assert platform.deliveries[0].authorization is None


async def test_send_without_outbound_url_is_not_retryable() -> None:
    adapter = RelayAdapter(RELAY_SECRET)
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(OutgoingMessage(text="x", user_id="U1"), "k")
    await adapter.close()
    assert caught.value.retryable is False


async def test_send_500_is_retryable(relay: RelayAdapter, platform: FakeRelayPlatform) -> None:
    platform.script.append(500)
    with pytest.raises(DeliveryError) as caught:
        await relay.send(OutgoingMessage(text="x", user_id="U1"), "k")
    assert caught.value.retryable is True
    assert caught.value.retry_after is None
    assert "500" in caught.value.reason
    assert platform.deliveries == []


async def test_send_429_is_retryable_after(
    relay: RelayAdapter, platform: FakeRelayPlatform
) -> None:
    platform.script.append((429, 7))
    with pytest.raises(DeliveryError) as caught:
        await relay.send(OutgoingMessage(text="x", user_id="U1"), "k")
    assert caught.value.retryable is True
    assert caught.value.retry_after == 7.0


async def test_send_400_is_not_retryable(relay: RelayAdapter, platform: FakeRelayPlatform) -> None:
    platform.script.append(400)
    with pytest.raises(DeliveryError) as caught:
        await relay.send(OutgoingMessage(text="x", user_id="U1"), "k")
    assert caught.value.retryable is False


async def test_send_timeout_is_retryable(platform: FakeRelayPlatform) -> None:
    adapter = RelayAdapter(RELAY_SECRET, outbound_url=platform.url, send_timeout_seconds=0.2)
    platform.script.append("hang")
    try:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(OutgoingMessage(text="x", user_id="U1"), "k")
    finally:
        await adapter.close()
    assert caught.value.retryable is True
    assert platform.requests == 1


async def test_send_to_unreachable_port_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = RelayAdapter(RELAY_SECRET, outbound_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(DeliveryError) as caught:
            await adapter.send(OutgoingMessage(text="x", user_id="U1"), "k")
    finally:
        await adapter.close()
    assert caught.value.retryable is True
    assert "unreachable" in caught.value.reason


async def test_send_reuses_its_session_and_close_releases_it(
    platform: FakeRelayPlatform,
) -> None:
    adapter = RelayAdapter(RELAY_SECRET, outbound_url=platform.url)
    await adapter.send(OutgoingMessage(text="a", user_id="U1"), "k1")
    await adapter.send(OutgoingMessage(text="b", user_id="U1"), "k2")
    await adapter.close()
    assert platform.texts == ["a", "b"]
    assert platform.unique_keys() == {"k1", "k2"}


# -- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("0", 0.0), ("120", 120.0), (None, None), ("", None), ("soon", None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None
    assert 85 <= seconds <= 90


def test_parse_retry_after_past_date_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", ["inf", "1e999", "99999999999999"])
def test_parse_retry_after_is_usable_as_a_delay(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or math.isfinite(seconds)
    if seconds is not None:
        datetime.now(UTC) + timedelta(seconds=seconds)  # what OutboxDispatcher does with it
