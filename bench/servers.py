"""The baselines dxbot is measured against, and a fake relay platform; one process each.

    python -m bench.servers ack      --port N            # verify the relay signature, 200
    python -m bench.servers sqlite   --port N --path FILE  # + one committed INSERT (SQLite)
    python -m bench.servers pg       --port N --url URL    # + one committed INSERT (PostgreSQL)
    python -m bench.servers bolt     --port N            # slack-bolt AsyncApp acking /dx status
    python -m bench.servers relay    --port N --outbound URL  # ack, then POST the reply(ies)
    python -m bench.servers platform --port N [--per-minute R] [--burst B]

All bind to 127.0.0.1 and answer ``GET /healthz``. They run until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import signal
import sqlite3
import time
from typing import Any

from aiohttp import web

RELAY_SECRET = "test-relay-secret-0123456789"  # = tests.builders.RELAY_SECRET
SLACK_SECRET = "bench-slack-signing-secret"
TOLERANCE = 300


def relay_verified(request: web.Request, body: bytes) -> bool:
    """The relay v1 check (docs/relay-protocol.md), as dxbot's RelayAdapter.verify does it."""
    ts = request.headers.get("X-DXBot-Request-Timestamp", "")
    sig = request.headers.get("X-DXBot-Signature", "")
    if not (ts.isascii() and ts.isdigit()) or abs(time.time() - int(ts)) > TOLERANCE:
        return False
    base = b"v1:" + ts.encode("ascii") + b":" + body
    expected = "v1=" + hmac.new(RELAY_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def bad_signature() -> web.Response:
    return web.json_response({"ok": False, "error": "bad_signature"}, status=401)


# ------------------------------------------------------------------ limit-ack


def ack_app() -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not relay_verified(request, body):
            return bad_signature()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hooks/relay", hook)
    return app


# ------------------------------------------------------------------ limit-durable-sqlite


def sqlite_app(path: str, synchronous: str = "FULL") -> web.Application:
    """WAL, synchronous=FULL (dxbot's default) or NORMAL; one autocommit INSERT per request on
    one writer thread (SQLite has one writer), so the loop parses the next request meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    writer = ThreadPoolExecutor(max_workers=1)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, received REAL)")

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not relay_verified(request, body):
            return bad_signature()
        event_id = json.loads(body)["event_id"]
        await asyncio.get_running_loop().run_in_executor(
            writer, db.execute, "INSERT INTO events VALUES (?, ?)", (event_id, time.time())
        )
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hooks/relay", hook)

    async def close(_: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(writer, db.close)
        writer.shutdown()

    app.on_cleanup.append(close)
    return app


# ------------------------------------------------------------------ limit-durable-pg


def pg_app(url: str) -> web.Application:
    """asyncpg pool; each INSERT is its own committed transaction (synchronous_commit on)."""
    import asyncpg

    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def start(app: web.Application) -> None:
        pool = await asyncpg.create_pool(url, min_size=10, max_size=10)
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS events"
                " (event_id TEXT PRIMARY KEY, received DOUBLE PRECISION)"
            )
            setting = await conn.fetchval("SHOW synchronous_commit")
            print(f"synchronous_commit={setting}", flush=True)
        app[pool_key] = pool

    async def stop(app: web.Application) -> None:
        await app[pool_key].close()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not relay_verified(request, body):
            return bad_signature()
        event_id = json.loads(body)["event_id"]
        await request.app[pool_key].execute(
            "INSERT INTO events VALUES ($1, $2)", event_id, time.time()
        )
        return web.json_response({"ok": True})

    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/hooks/relay", hook)
    return app


# ------------------------------------------------------------------ limit-relay

FIRST_STEP = "課題を報告"  # = bench.e2e.FORM_STEPS[0]: dxbot answers it with two messages
SENDERS = 32  # = dxbot's outbox.concurrency default


def relay_app(outbound: str) -> web.Application:
    """End to end with nothing between: verify, ack, then send each event's replies (as many as
    dxbot sends for it) to the platform over one aiohttp client session, ``SENDERS`` at a time.
    No database, no handling: the floor under any bot that answers over HTTP in one process."""
    import aiohttp

    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    http_key = web.AppKey("http", aiohttp.ClientSession)
    tasks: list[asyncio.Task[None]] = []

    async def sender(http: aiohttp.ClientSession) -> None:
        while True:
            body = await queue.get()
            try:
                async with http.post(f"{outbound}/messages", json=body) as response:
                    await response.read()
            except aiohttp.ClientError:
                pass  # counted by the platform as not delivered

    async def start(app: web.Application) -> None:
        app[http_key] = http = aiohttp.ClientSession()
        tasks.extend(asyncio.create_task(sender(http)) for _ in range(SENDERS))

    async def stop(app: web.Application) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app[http_key].close()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not relay_verified(request, body):
            return bad_signature()
        event = json.loads(body)
        reply = {"conversation_id": event["conversation"]["id"], "text": "次の質問です"}
        for _ in range(2 if event.get("text") == FIRST_STEP else 1):
            queue.put_nowait(reply)
        return web.json_response({"ok": True})

    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/hooks/relay", hook)
    return app


# ------------------------------------------------------------------ slack-bolt


def bolt_app() -> web.Application:
    """slack-bolt's AsyncApp behind its aiohttp adapter, acking ``/dx status``.

    process_before_response=True (FaaS style: the listener runs before the 200); a local
    ``authorize`` so no request goes to Slack.
    """
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.authorization import AuthorizeResult

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id="T0BENCH", bot_user_id="U0BOT", bot_token="xoxb-bench"
        )

    bolt = AsyncApp(
        signing_secret=SLACK_SECRET,
        authorize=authorize,
        process_before_response=True,
        url_verification_enabled=False,
        ssl_check_enabled=False,
    )

    @bolt.command("/dx")
    async def dx(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"status: {command.get('text', '')}")

    async def hook(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", hook)
    return app


# ------------------------------------------------------------------ fake relay platform


class Platform:
    """``POST /messages`` of a relay gateway: records arrival times per conversation and
    enforces a token-bucket rate limit when asked (429 + Retry-After, like LINE WORKS)."""

    def __init__(self, per_minute: float | None, burst: int) -> None:
        self.rate = per_minute / 60 if per_minute else None
        self.burst = burst
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.delivered: list[tuple[float, str]] = []  # (time.time(), conversation or user)
        self.keys: set[str] = set()
        self.limited = 0
        self.duplicates = 0
        self.first: float | None = None

    def _take(self) -> float:
        """0 when allowed, else seconds until a token is there."""
        if self.rate is None:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    async def messages(self, request: web.Request) -> web.Response:
        wait = self._take()
        if wait > 0:
            self.limited += 1
            retry = max(1, int(wait + 0.999))
            return web.json_response(
                {"error": "rate"}, status=429, headers={"Retry-After": str(retry)}
            )
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        if key in self.keys:
            self.duplicates += 1
        self.keys.add(key)
        now = time.time()
        self.first = self.first or now
        self.delivered.append((now, body.get("conversation_id") or body.get("user_id") or ""))
        return web.json_response({"ok": True, "message_id": f"r{len(self.delivered)}"})

    async def stats(self, request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        rows = [(t, c) for t, c in self.delivered if t >= since]
        full = request.query.get("rows") == "1"
        return web.json_response(
            {
                "delivered": len(rows),
                "unique_keys": len(self.keys),
                "limited": self.limited,
                "duplicates": self.duplicates,
                "first": rows[0][0] if rows else None,
                "last": rows[-1][0] if rows else None,
                "rows": rows if full else [],
            }
        )


def platform_app(per_minute: float | None, burst: int) -> web.Application:
    platform = Platform(per_minute, burst)
    app = web.Application()
    app.router.add_post("/messages", platform.messages)
    app.router.add_get("/stats", platform.stats)
    return app


# ------------------------------------------------------------------ main


async def _run(app: web.Application, port: int) -> None:
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=["ack", "sqlite", "pg", "bolt", "relay", "platform"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/tmp/bench-limit.sqlite3")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/dxbench_limit")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--per-minute", type=float, default=None)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--outbound", default="", help="relay: the fake platform's base URL")
    args = parser.parse_args()
    if args.kind == "ack":
        app = ack_app()
    elif args.kind == "sqlite":
        app = sqlite_app(args.path, args.synchronous)
    elif args.kind == "pg":
        app = pg_app(args.url)
    elif args.kind == "bolt":
        app = bolt_app()
    elif args.kind == "relay":
        app = relay_app(args.outbound)
    else:
        app = platform_app(args.per_minute, args.burst)
    asyncio.run(_run(app, args.port))


if __name__ == "__main__":
    main()
