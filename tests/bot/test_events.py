"""The inbox keeps events as JSON: every field must survive the round trip."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from bot.events import Conversation, Event, EventType, User


def test_every_field_survives_the_json_round_trip() -> None:
    event = Event(
        adapter="lineworks",
        event_id="ev-1",
        type=EventType.ACTION,
        occurred_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        user=User("U1", "田中 花子"),
        conversation=Conversation("room-9", "group"),
        text="完了",
        command="dx",
        action_id="duty.done",
        value="12",
        message_id="m-3",
        extra={"channel": {"id": "C1"}},
    )
    data = event.to_json()
    assert set(data) == {f.name for f in fields(Event)}  # a new field must be written too
    assert Event.from_json(json.loads(json.dumps(data))) == event
