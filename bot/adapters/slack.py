"""Slack: Events API, slash commands and interactivity in; the Web API (``slack_sdk``) out.

One request URL (``/hooks/slack``) takes all three kinds of Slack request: Events API JSON,
slash-command forms and ``payload=`` interaction forms. Each is signed the same way (v0).

Choices made here, and why:

- A slash command (and a button press) is answered by an empty 200 once stored, Slack's
  plain acknowledgement. The real reply goes through the outbox as ``chat.postMessage`` to
  the command's channel, like every other reply. Every direct chat is the conversation
  ``user:ID`` (``slack_inbound.DIRECT_TO``), opened when sent to: Slack sends the same
  ``directmessage`` for a chat between two people, which the bot is not in and cannot post to,
  so a command typed there is answered in the person's chat with the bot.
  ``response_url`` would work in channels the bot has not joined, but it expires after 30
  minutes and five uses, so a reply retried later by the outbox could be lost.
- A Slack retry (``X-Slack-Retry-Num``) is stored like any delivery: the inbox drops a known
  ``event_id``. Acking a retry without storing it could lose an event whose first delivery
  never reached the database.
- Slack has no idempotency key for ``chat.postMessage``. A send retried after a timeout may
  show twice; the outbox key travels in the message's ``metadata`` so a duplicate can be
  traced to its outbox row.
- Replies are not threaded (``in_reply_to`` is ignored): a form's questions read top to
  bottom in the direct chat.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.base import (
    Ack,
    Batch,
    Capabilities,
    DeliveryError,
    PayloadError,
    RawRequest,
    SentRef,
    SignatureError,
)
from bot.adapters.payload import load_object
from bot.adapters.relay import parse_retry_after
from bot.adapters.slack_blocks import (
    MAX_SECTION_TEXT,
    escape,
    fallback_text,
    message_blocks,
    outbox_metadata,
)
from bot.adapters.slack_inbound import (
    ADAPTER,
    DIRECT_TO,
    IGNORED,
    header,
    is_ssl_check,
    load_form,
    read_command,
    read_event_callback,
    read_interaction,
)
from bot.events import Event
from bot.messages import OutgoingMessage
from config.settings import Settings

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
TOLERANCE_SECONDS = 300  # Slack's documented window, and SignatureVerifier's
DEFAULT_API_URL = "https://slack.com/api/"
# Answered once a command or a button press is stored: an empty 200 is Slack's documented
# acknowledgement, while a JSON body answering a slash command is shown to the person.
PLAIN_ACK = Ack(200, None)
# Slack's own error codes for a failure on its side (chat.postMessage docs).
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


class _At(Clock):
    """SignatureVerifier asks its clock for the time; the edge tells us what time it is."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class SlackAdapter:
    """A Slack app with a bot token, reached at ``POST /hooks/slack``."""

    name = ADAPTER
    capabilities = Capabilities(
        buttons=True, images=True, files=True, max_text_length=MAX_SECTION_TEXT
    )

    def __init__(
        self,
        signing_secret: str,
        bot_token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        send_timeout_seconds: float = 10.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        if not signing_secret.strip():
            raise ValueError("the Slack signing secret must not be empty")
        self._secret = signing_secret
        self._token = bot_token
        self._api_url = api_url
        self._timeout = send_timeout_seconds
        self._http = http
        self._owns_http = http is None
        self._client: AsyncWebClient | None = None
        self._direct_channels: dict[str, str] = {}

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: RawRequest, now: float) -> None:
        if is_ssl_check(request.body):
            return  # Slack's certificate probe: answered 200 by ``parse``, changes nothing
        timestamp = header(request.headers, TIMESTAMP_HEADER)
        signature = header(request.headers, SIGNATURE_HEADER)
        if not timestamp or not signature:
            raise SignatureError("missing signature headers")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise SignatureError("timestamp is not unix seconds")
        if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
            raise SignatureError("timestamp outside the allowed window")
        verifier = SignatureVerifier(self._secret, clock=_At(now))
        try:
            valid = signature.isascii() and verifier.is_valid(request.body, timestamp, signature)
        except UnicodeDecodeError:  # Slack signs UTF-8 bodies only
            valid = False
        if not valid:
            raise SignatureError("signature does not match")

    def parse(self, request: RawRequest) -> Event | Ack | Batch:
        body = request.body
        if is_ssl_check(body):
            return IGNORED
        if body.lstrip()[:1] == b"{":
            return read_event_callback(load_object(body, "body"))
        form = load_form(body)
        if "payload" in form:
            parsed = read_interaction(load_object(form["payload"].encode("utf-8"), "payload"))
            return Batch((parsed,), PLAIN_ACK) if isinstance(parsed, Event) else parsed
        if "command" in form:
            command = read_command(form, header(request.headers, TIMESTAMP_HEADER))
            return Batch((command,), PLAIN_ACK)
        raise PayloadError("body", "not an Events API object, slash command or payload")

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        try:
            blocks = message_blocks(message.text, message.choices)
        except ValueError as exc:
            raise DeliveryError(str(exc), retryable=False) from exc
        try:
            async with asyncio.timeout(self._timeout):
                return await self._deliver(message, blocks, idempotency_key)
        except SlackApiError as exc:
            raise _failure(exc) from exc
        except SlackRequestError as exc:  # the file host refused an upload
            raise DeliveryError(f"slack upload failed: {exc}", retryable=True) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}", retryable=True) from exc

    async def _deliver(
        self, message: OutgoingMessage, blocks: list[dict[str, Any]], key: str
    ) -> SentRef:
        client = self._web()
        channel = await self._channel(client, message)
        ref: SentRef | None = None
        attachment = message.attachment
        if attachment is None or message.choices:
            posted = await client.chat_postMessage(
                channel=channel,
                text=fallback_text(message.text, message.choices),
                blocks=blocks or None,
                metadata=outbox_metadata(key),
                unfurl_links=False,
                unfurl_media=False,
            )
            ref = SentRef(message_id=_text_or_none(posted.get("ts")))
        if attachment is not None:
            comment = escape(message.text) if not message.choices and message.text else None
            uploaded = await client.files_upload_v2(
                channel=channel,
                content=attachment.data,
                filename=attachment.filename,
                title=attachment.filename,
                initial_comment=comment,
            )
            file = uploaded.get("file")
            ref = ref or SentRef(_text_or_none(file.get("id") if isinstance(file, dict) else None))
        return ref or SentRef()

    async def _channel(self, client: AsyncWebClient, message: OutgoingMessage) -> str:
        """Where to post: the conversation, or the bot's direct chat with a person (a message
        to a ``user_id``, or a reply to a command typed in a direct chat)."""
        target = message.conversation_id
        if target is not None and target.startswith(DIRECT_TO):
            return await self._direct_channel(client, target.removeprefix(DIRECT_TO))
        return target or await self._direct_channel(client, message.user_id)

    async def _direct_channel(self, client: AsyncWebClient, user_id: str | None) -> str:
        """The bot's direct chat with ``user_id``, opened once and remembered."""
        if not user_id:
            raise DeliveryError("slack message has no conversation and no user", retryable=False)
        known = self._direct_channels.get(user_id)
        if known is not None:
            return known
        opened = await client.conversations_open(users=user_id)
        channel = opened.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(channel_id, str):
            raise DeliveryError("slack conversations.open returned no channel", retryable=True)
        self._direct_channels[user_id] = channel_id
        return channel_id

    def _web(self) -> AsyncWebClient:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
            self._owns_http = True
            self._client = None
        if self._client is None:
            self._client = AsyncWebClient(
                token=self._token,
                base_url=self._api_url,
                session=self._http,
                timeout=math.ceil(self._timeout),
                retry_handlers=[],  # the outbox retries, with backoff and Retry-After
            )
        return self._client

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()


def _failure(exc: SlackApiError) -> DeliveryError:
    """Slack's answer as a DeliveryError: rate limits and Slack's own faults are retried."""
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    status = int(response.status_code)
    code = str(data.get("error") or f"HTTP {status}")
    method = str(response.api_url).rstrip("/").rsplit("/", 1)[-1]
    reason = f"slack {method}: {code}"
    if status == 429 or code == "ratelimited":
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return DeliveryError(reason, retryable=True, retry_after=retry_after)
    retryable = status >= 500 or code in TRANSIENT_ERRORS
    return DeliveryError(reason, retryable=retryable)


def from_settings(settings: Settings) -> SlackAdapter | None:
    """The adapter when a signing secret is set; it then needs the bot token too."""
    slack = settings.slack
    if not slack.enabled or slack.signing_secret is None:
        return None
    token = slack.bot_token.get_secret_value() if slack.bot_token else ""
    if not token.strip():
        raise ValueError("Slack is enabled by its signing secret: set DXBOT_SLACK_BOT_TOKEN too")
    return SlackAdapter(
        slack.signing_secret.get_secret_value(),
        token,
        api_url=slack.api_url,
        send_timeout_seconds=slack.send_timeout_seconds,
    )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
