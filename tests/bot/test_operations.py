"""Operations: /metrics tells an operator what happens; a flooding user is slowed politely."""

from __future__ import annotations

import re

from tests.builders import encode, make_event, relay_payload, signed_headers
from tests.edge import edge
from tests.harness import harness


def _value(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(f"{name}{{{label_text}}}" if labels else name) + r" ([0-9.e+-]+)"
    found = re.search(pattern, text)
    assert found, f"{name} {labels} not in metrics"
    return float(found.group(1))


async def test_metrics_count_events_duplicates_rejections_and_outbox(database_url: str) -> None:
    async with edge(database_url) as bot:
        payload = relay_payload(text="ヘルプ")
        await bot.post(payload)
        await bot.post(payload)  # duplicate
        body = encode(relay_payload())
        await bot.post(body, headers={**signed_headers(body), "X-DXBot-Signature": "v1=00"})
        async with bot.client.get("/metrics") as response:
            before_send = await response.text()
            assert response.status == 200
        await bot.settle()
        async with bot.client.get("/metrics") as response:
            after_send = await response.text()
    assert _value(before_send, "dxbot_events_received_total", adapter="relay") == 1
    assert _value(before_send, "dxbot_events_duplicated_total", adapter="relay") == 1
    assert (
        _value(before_send, "dxbot_events_rejected_total", adapter="relay", reason="bad_signature")
        == 1
    )
    assert _value(before_send, "dxbot_outbox_depth") == 0  # not handled yet: no reply queued
    assert _value(after_send, "dxbot_handler_seconds_count") == 1
    assert _value(after_send, "dxbot_outbox_depth") == 0


async def test_a_flooding_user_is_slowed_and_others_are_not(database_url: str) -> None:
    async with harness(database_url, inbox={"user_rate_per_second": 1, "user_burst": 5}) as bot:
        for _ in range(50):
            await bot.runtime.accept(make_event("ヘルプ", user="FLOOD"))
        await bot.runtime.accept(make_event("ヘルプ", user="CALM"))
        await bot.settle()
        to_flood = [m.text for _, m in bot.sender.sent if m.conversation_id == "dm-FLOOD"]
        to_calm = [m.text for _, m in bot.sender.sent if m.conversation_id == "dm-CALM"]
    assert len([t for t in to_flood if "できること" in t]) == 5  # the burst
    assert len([t for t in to_flood if "少し間をおいて" in t]) == 1  # told once
    assert len(to_calm) == 1 and "できること" in to_calm[0]
