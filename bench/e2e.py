"""End to end: inbox → handler → outbox → delivered to a fake relay platform, side by side
with slack-bolt's ack-only rate, in rounds (bolt, dxbot-sqlite, dxbot-pg, bolt, …).

    python -m bench.e2e                         # 3 rounds; 10 s saturation; 200 events/s for 15 s
    python -m bench.e2e --rounds 1 --rate 200 --rate-seconds 15 --backends sqlite

Per dxbot round: (1) saturation — wrk, 32 connections, 10 s, every event from its own user;
what counts is what the fake platform received in that window (handled and delivered, not
merely acked) and the backlog left at its end; (2) after the backlog drained (bounded wait),
an open-loop 200 events/s for ``--rate-seconds`` from a Python client on CPU 1: reply latency
= the platform's receive time − the send time, per event. RSS is read after both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench import common, webhook
from bench.common import Proc, median, table
from bench.webhook import RELAY_HEADERS, SLACK_HEADERS

DRAIN_LIMIT = 120.0  # seconds the backlog may take to drain before the latency phase


def unique_user_rows(count: int, prefix: str) -> Any:
    """Relay messages, each from its own user: a reply is matched to its event by conversation."""
    import hashlib
    import hmac

    ts = str(int(time.time()))
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for n in range(count):
        user = f"{prefix}-{n}"
        body = json.dumps(
            {
                "event_id": f"{prefix}-e{n}",
                "type": "message",
                "occurred_at": now,
                "user": {"id": user, "name": "田中 花子"},
                "conversation": {"id": f"dm-{user}", "kind": "direct"},
                "text": "ヘルプ",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        base = b"v1:" + ts.encode() + b":" + body.encode()
        sig = "v1=" + hmac.new(webhook.RELAY_SECRET.encode(), base, hashlib.sha256).hexdigest()
        yield ["application/json", ts, sig, body]


def platform_stats(base: str, since: float, rows: bool = False) -> dict[str, Any]:
    url = f"{base}/stats?since={since}&rows={int(rows)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


async def open_loop(url: str, rate: float, seconds: float, prefix: str) -> dict[str, float]:
    """Send ``rate`` events/s on schedule (not waiting for the previous one); send times."""
    import aiohttp

    count = int(rate * seconds)
    rows = list(unique_user_rows(count, prefix))
    sent: dict[str, float] = {}
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:

        async def one(row: list[str]) -> None:
            nonlocal errors
            body = row[-1].encode()
            headers = dict(zip(RELAY_HEADERS, row[:-1], strict=True))
            conversation = json.loads(body)["conversation"]["id"]
            sent[conversation] = time.time()
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
    sent["__errors__"] = errors
    return sent


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
            path = work / "sat.tsv"
            count = int(args.cap * args.seconds) + 2000
            prefix = f"sat{uuid.uuid4().hex[:8]}"
            common.write_requests(path, RELAY_HEADERS, unique_user_rows(count, prefix))
            t0 = time.time()
            load = common.run_wrk(url, path, connections=32, seconds=args.seconds)
            t1 = time.time()
            stats = platform_stats(platform, t0, rows=True)
            in_window = sum(1 for t, c in stats["rows"] if t <= t1 and c.startswith(f"dm-{prefix}"))
            result["ack_rps"] = load["rps"]
            result["delivered_rps"] = in_window / (t1 - t0)
            result["backlog_at_end"] = load["requests"] - load["errors"] - in_window
            result["load_errors"] = load["errors"]
            # drain (bounded)
            deadline = time.monotonic() + DRAIN_LIMIT
            while time.monotonic() < deadline:
                done = sum(
                    1 for _, c in platform_stats(platform, t0, rows=True)["rows"]
                    if c.startswith(f"dm-{prefix}")
                )  # fmt: skip
                if done >= load["requests"] - load["errors"]:
                    break
                time.sleep(1)
            result["drain_s"] = time.time() - t1
            # (2) latency at a fixed rate
            prefix = f"lat{uuid.uuid4().hex[:8]}"
            t2 = time.time()
            sent = asyncio.run(open_loop(url, args.rate, args.rate_seconds, prefix))
            errors = int(sent.pop("__errors__"))
            time.sleep(3)
            first: dict[str, float] = {}
            for t, c in platform_stats(platform, t2, rows=True)["rows"]:
                if c in sent and c not in first:
                    first[c] = t
            lat = sorted((first[c] - sent[c]) * 1000 for c in first)
            result["rate_errors"] = errors
            result["rate_delivered"] = f"{len(first)}/{len(sent)}"
            result["e2e_p50_ms"] = lat[len(lat) // 2] if lat else float("nan")
            result["e2e_p99_ms"] = lat[int(len(lat) * 0.99)] if lat else float("nan")
            result["rss_after_mb"] = server.rss_mb()
            result["hwm_mb"] = server.hwm_mb()
    return result


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
    parser.add_argument("--cap", type=int, default=1500, help="saturation requests/s sized for")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rate-seconds", type=float, default=15.0)
    parser.add_argument("--backends", default="sqlite,pg")
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
                for backend in backends:
                    found[backend] = r = run_dxbot(backend, platform_url, args)
                    print(f"round {n + 1}: bolt {found['slack-bolt']:.0f} req/s; {r}", flush=True)
                rounds.append(found)
        finally:
            if "pg" in backends:
                common.pg_drop(common.db_name("dxbot"))
    rows = []
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
