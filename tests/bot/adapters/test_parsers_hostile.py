"""Property tests: no body makes the LINE WORKS or Matrix parser raise anything but a
PayloadError (a 400 naming the field) — never an exception that would become a 500."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.base import PayloadError, RawRequest
from tests.bot.adapters.test_lineworks import _adapter as lineworks_adapter
from tests.bot.adapters.test_matrix import adapter as matrix_adapter
from tests.bot.adapters.test_matrix import transaction

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "type",
        "source",
        "content",
        "userId",
        "channelId",
        "issuedTime",
        "events",
        "room_id",
        "sender",
        "event_id",
        "text",
        "postback",
    ]
)
OBJECTS = st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=8)
BODIES = st.binary(max_size=300) | OBJECTS.map(lambda d: json.dumps(d).encode())


def _parse_quietly(parse: Any, request: RawRequest) -> None:
    with contextlib.suppress(PayloadError):
        parse(request)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_lineworks_parse_never_fails_otherwise(body: bytes) -> None:
    _parse_quietly(lineworks_adapter().parse, RawRequest(headers={}, body=body))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_matrix_parse_never_fails_otherwise(body: bytes) -> None:
    request = transaction(body)
    _parse_quietly(matrix_adapter().parse, request)
