"""End to end: inbox → handler → outbox → delivered to a fake relay platform, side by side
with slack-bolt's ack-only rate, in rounds (bolt, dxbot-sqlite, dxbot-pg, bolt, …).

    python -m bench.e2e                         # 3 rounds; 10 s saturation; 200 events/s for 15 s
    python -m bench.e2e --rounds 1 --rate 200 --rate-seconds 15 --backends sqlite

The events are form steps: people filling in the issue-report form (「課題を報告」, then one
answer per question), 50 people interleaved, so every event loads and saves a form session
and queues the next question. Per dxbot round: (1) saturation — wrk, 32 connections, 10 s;
what counts is the events whose answer the fake platform received in that window (handled
and delivered, not merely acked) and the backlog left at its end; (2) after the backlog
drained (bounded wait), an open-loop 200 events/s for ``--rate-seconds`` from a Python client
on CPU 1: reply latency = the platform's receive time of the answer − the send time, per
event. RSS is read after both.

Each round also loads ``limit-relay`` (``bench.servers relay``) the same way: it acks each
event and sends its replies to the same platform, with no database and no handling. What it
delivers is the floor's ceiling: no bot that answers over HTTP from one process on one core
delivers more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common, servers, webhook
from bench.common import Proc, median, table
from bench.webhook import RELAY_HEADERS, SLACK_HEADERS
from tests.seeds import REPORT_ANSWERS as ANSWERS

DRAIN_LIMIT = 240.0  # seconds the backlog may take to drain before the latency phase
DRAIN_QUIET = 5.0  # seconds without an answer that end the drain early
LIMIT_CAP = 12_000  # requests/s the limit-relay's request list is sized for


# The issue-report form up to its last question: nine steps, each answered with one message
# (the first, 「課題を報告」, with two: the introduction and the first question).
FORM_STEPS = [servers.FIRST_STEP, *ANSWERS[:8]]  # the answers the report tests give
BLOCK = 50  # users whose steps interleave: one person's next message comes 50 events later


def form_events(count: int, prefix: str, help_only: bool = False) -> list[tuple[str, str]]:
    """(user, text) in sending order: blocks of ``BLOCK`` people filling in the form, step by
    step, so each person's messages arrive in order and spaced out, as people type them."""
    steps = ["ヘルプ"] if help_only else FORM_STEPS
    found: list[tuple[str, str]] = []
    block = 0
    while len(found) < count:
        for text in steps:
            for n in range(BLOCK):
                found.append((f"{prefix}-{block * BLOCK + n}", text))
        block += 1
    return found[:count]


def signed_rows(events: list[tuple[str, str]], prefix: str) -> Any:
    """Signed relay message events for ``events``."""
    import hashlib
    import hmac

    ts = str(int(time.time()))
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for n, (user, text) in enumerate(events):
        body = json.dumps(
            {
                "event_id": f"{prefix}-e{n}",
                "type": "message",
                "occurred_at": now,
                "user": {"id": user, "name": "田中 花子"},
                "conversation": {"id": f"dm-{user}", "kind": "direct"},
                "text": text,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        base = b"v1:" + ts.encode() + b":" + body.encode()
        sig = "v1=" + hmac.new(servers.RELAY_SECRET.encode(), base, hashlib.sha256).hexdigest()
        yield ["application/json", ts, sig, body]


def answered(messages: int) -> int:
    """Events answered in a conversation that received ``messages`` messages (the first event
    is answered by two)."""
    return max(0, messages - 1)


def handled_events(rows: list[list[Any]], prefix: str, until: float = float("inf")) -> int:
    per: dict[str, int] = {}
    for t, conversation in rows:
        if t <= until and conversation.startswith(f"dm-{prefix}"):
            per[conversation] = per.get(conversation, 0) + 1
    return sum(answered(n) for n in per.values())


def platform_stats(base: str, since: float, rows: bool = False) -> dict[str, Any]:
    url = f"{base}/stats?since={since}&rows={int(rows)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


async def open_loop(
    url: str, rate: float, seconds: float, prefix: str, help_only: bool
) -> tuple[dict[str, list[float]], int]:
    """Send ``rate`` events/s on schedule (not waiting for answers); per conversation, the send
    times of its events in order, and the count of refused or failed requests."""
    import aiohttp

    events = form_events(int(rate * seconds), prefix, help_only)
    rows = list(signed_rows(events, prefix))
    sent: dict[str, list[float]] = {}
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:

        async def one(row: list[str]) -> None:
            nonlocal errors
            body = row[-1].encode()
            headers = dict(zip(RELAY_HEADERS, row[:-1], strict=True))
            conversation = json.loads(body)["conversation"]["id"]
            sent.setdefault(conversation, []).append(time.time())
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    if response.status != 200:
                        errors += 1
                    await response.read()
            except aiohttp.ClientError:
                errors += 1

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for n, row in enumerate(rows):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(row)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 60)
    return sent, errors


def latencies(sent: dict[str, list[float]], rows: list[list[Any]]) -> list[float]:
    """ms from each event's send to the delivery of its answer: a conversation's k-th event is
    answered by its (k+2)-th message (the first event by two messages)."""
    received: dict[str, list[float]] = {}
    for t, conversation in rows:
        if conversation in sent:
            received.setdefault(conversation, []).append(t)
    found = []
    for conversation, times in sent.items():
        got = sorted(received.get(conversation, []))
        for k, at in enumerate(sorted(times)):
            if k + 1 < len(got):
                found.append((got[k + 1] - at) * 1000)
    return sorted(found)


def _drain(platform: str, t0: float, t1: float, prefix: str, acked: int) -> float:
    """Seconds from the end of the load to the last answer of its backlog (bounded).

    Done when every acked event is answered, or when no answer came for ``DRAIN_QUIET``
    seconds: a person whose first step was refused (503 at the backlog bound) gets one
    answer fewer than ``answered`` counts, so the count alone may never be reached."""
    deadline = time.monotonic() + DRAIN_LIMIT
    last_count, last_at = -1, time.time()
    while True:
        rows = platform_stats(platform, t0, rows=True)["rows"]
        done = handled_events(rows, prefix)
        if done >= acked or time.monotonic() >= deadline:
            break
        if done != last_count:
            last_count, last_at = done, time.time()
        elif time.time() - last_at >= DRAIN_QUIET:
            break
        time.sleep(1)
    ours = [t for t, conversation in rows if conversation.startswith(f"dm-{prefix}")]
    return max(ours, default=t1) - t1


@dataclass(frozen=True)
class Saturation:
    prefix: str  # the events' ids and people start with it
    t0: float
    t1: float
    load: dict[str, Any]  # wrk's summary
    delivered: int  # events whose answer the platform received between t0 and t1


def saturate(
    url: str, platform: str, work: Path, count: int, args: argparse.Namespace
) -> Saturation:
    """wrk, 32 connections, ``args.seconds`` on ``count`` unique signed form steps; what the
    fake platform received for them meanwhile."""
    path = work / "sat.tsv"
    prefix = f"sat{uuid.uuid4().hex[:8]}"
    common.write_requests(
        path, RELAY_HEADERS, signed_rows(form_events(count, prefix, args.help), prefix)
    )
    t0 = time.time()
    load = common.run_wrk(url, path, connections=32, seconds=args.seconds)
    t1 = time.time()
    rows = platform_stats(platform, t0, rows=True)["rows"]
    return Saturation(prefix, t0, t1, load, handled_events(rows, prefix, t1))


def run_dxbot(backend: str, platform: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"target": f"dxbot-{backend}"}
    with tempfile.TemporaryDirectory(prefix=f"bench-e2e-{backend}-") as tmp:
        work = Path(tmp)
        port = common.free_port()
        base = f"http://127.0.0.1:{port}"
        procs = webhook.dxbot_start(backend, platform)(port, work)
        with common.stopping(procs):
            server = procs[-1]
            result["startup_s"] = server.wait_http(f"{base}/healthz")
            time.sleep(0.5)
            result["idle_rss_mb"] = server.rss_mb()
            url = f"{base}/hooks/relay"
            # (1) saturation
            sat = saturate(url, platform, work, int(args.cap * args.seconds) + 2000, args)
            acked = sat.load["requests"] - sat.load["errors"]
            result["ack_rps"] = sat.load["rps"]
            result["delivered_rps"] = sat.delivered / (sat.t1 - sat.t0)
            result["backlog_at_end"] = acked - sat.delivered
            result["load_errors"] = sat.load["errors"]
            # drain (bounded)
            result["drain_s"] = _drain(platform, sat.t0, sat.t1, sat.prefix, acked)
            # (2) latency at a fixed rate
            prefix = f"lat{uuid.uuid4().hex[:8]}"
            t2 = time.time()
            sent, errors = asyncio.run(
                open_loop(url, args.rate, args.rate_seconds, prefix, args.help)
            )
            time.sleep(3)
            lat = latencies(sent, platform_stats(platform, t2, rows=True)["rows"])
            events = sum(len(times) for times in sent.values())
            result["rate_errors"] = errors
            result["rate_delivered"] = f"{len(lat)}/{events}"
            result["e2e_p50_ms"] = lat[len(lat) // 2] if lat else float("nan")
            result["e2e_p99_ms"] = lat[int(len(lat) * 0.99)] if lat else float("nan")
            result["rss_after_mb"] = server.rss_mb()
            result["hwm_mb"] = server.hwm_mb()
    return result


def run_limit_relay(platform: str, args: argparse.Namespace) -> dict[str, float]:
    """Form steps handled and delivered per second by ``bench.servers relay``: the same load
    and count as dxbot's saturation phase, with no database and no handling between."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-relay-") as tmp:
        work = Path(tmp)
        port = common.free_port()
        procs = webhook._server("relay", "--outbound", platform)(port, work)
        with common.stopping(procs):
            procs[-1].wait_http(f"http://127.0.0.1:{port}/healthz")
            url = f"http://127.0.0.1:{port}/hooks/relay"
            sat = saturate(url, platform, work, int(LIMIT_CAP * args.seconds), args)
            return {
                "ack_rps": float(sat.load["rps"]),
                "delivered_rps": sat.delivered / (sat.t1 - sat.t0),
            }


def run_bolt(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-bolt-") as tmp:
        work = Path(tmp)
        port = common.free_port()
        procs = webhook._server("bolt")(port, work)
        with common.stopping(procs):
            procs[-1].wait_http(f"http://127.0.0.1:{port}/healthz")
            url = f"http://127.0.0.1:{port}/slack/events"
            warm = work / "warm.tsv"
            common.write_requests(warm, SLACK_HEADERS, webhook.slack_rows(8000 * 2, "w"))
            common.run_wrk(url, warm, connections=32, seconds=2)
            path = work / "load.tsv"
            prefix = uuid.uuid4().hex[:8]
            common.write_requests(
                path, SLACK_HEADERS, webhook.slack_rows(int(8000 * args.seconds), prefix)
            )
            return float(common.run_wrk(url, path, connections=32, seconds=args.seconds)["rps"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cap", type=int, default=3000, help="saturation requests/s sized for")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rate-seconds", type=float, default=15.0)
    parser.add_argument("--backends", default="sqlite,pg")
    parser.add_argument(
        "--help-messages",
        dest="help",
        action="store_true",
        help="every event 「ヘルプ」 from its own person, instead of form steps",
    )
    args = parser.parse_args()
    common.print_machine()
    backends = [b for b in args.backends.split(",") if b != "pg" or common.pg_available()]
    port = common.free_port()
    platform_url = f"http://127.0.0.1:{port}"
    platform = Proc(
        "platform",
        [common.python(), "-m", "bench.servers", "platform", "--port", str(port)],
        cpu=common.LOAD_CPU,
    )
    rounds: list[dict[str, Any]] = []
    with common.stopping([platform]):
        platform.wait_http(f"{platform_url}/healthz")
        try:
            for n in range(args.rounds):
                found: dict[str, Any] = {"slack-bolt": run_bolt(args)}
                found["limit-relay"] = run_limit_relay(platform_url, args)
                print(f"round {n + 1}: limit-relay {found['limit-relay']}", flush=True)
                for backend in backends:
                    found[backend] = r = run_dxbot(backend, platform_url, args)
                    print(f"round {n + 1}: bolt {found['slack-bolt']:.0f} req/s; {r}", flush=True)
                rounds.append(found)
        finally:
            if "pg" in backends:
                common.pg_drop(common.db_name("dxbot"))
    limit = [r["limit-relay"]["delivered_rps"] / r["slack-bolt"] for r in rounds]
    rows: list[list[Any]] = [
        [
            "limit-relay (no database, no handling)",
            median(r["limit-relay"]["ack_rps"] for r in rounds),
            median(r["limit-relay"]["delivered_rps"] for r in rounds),
            median(r["slack-bolt"] for r in rounds),
            median(limit),
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            common.verdict(median(limit) >= 1.0),
            "-",
        ]
    ]
    for backend in backends:
        per = [r[backend] for r in rounds]
        ratios = [r[backend]["delivered_rps"] / r["slack-bolt"] for r in rounds]
        rows.append(
            [
                f"dxbot-{backend}",
                median(r["ack_rps"] for r in per),
                median(r["delivered_rps"] for r in per),
                median(r["slack-bolt"] for r in rounds),
                median(ratios),
                median(r["backlog_at_end"] for r in per),
                median(r["drain_s"] for r in per),
                median(r["e2e_p50_ms"] for r in per),
                median(r["e2e_p99_ms"] for r in per),
                " ".join(r["rate_delivered"] for r in per),
                max(r["rss_after_mb"] for r in per),
                max(r["hwm_mb"] for r in per),
                common.verdict(median(ratios) >= 1.0),
                common.verdict(median(r["e2e_p99_ms"] for r in per) <= 50),
            ]
        )
    print()
    print(
        table(
            [
                "target",
                "ack req/s (saturated)",
                "handled+delivered /s",
                "slack-bolt ack req/s",
                "delivered / bolt",
                "backlog at end",
                "drain s",
                f"e2e p50 ms @{args.rate:g}/s",
                f"e2e p99 ms @{args.rate:g}/s",
                "replies/events",
                "RSS after MB",
                "VmHWM MB",
                "≥ 1.0 × bolt",
                "p99 ≤ 50 ms",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
