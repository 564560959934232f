"""Reminder fan-out: many reminders due at once, sent to a fake platform that enforces a limit.

    python -m bench.fanout                                  # slow, strict and fast; SQLite
    python -m bench.fanout --cases fast --database postgresql
    python -m bench.fanout --cases slow,unpaced --slow-count 300

Per case: the fake platform (``python -m bench.servers platform --per-minute R --burst B``, a
strict token bucket answering 429 + Retry-After) starts on 127.0.0.1, pinned to CPU 1; then
``count`` reminders to as many different people are enqueued in one transaction, the way the
reminder job does it (``JobContext.send``: outbox row + remembered buttons); then the real
``OutboxDispatcher`` runs in this process (pinned to CPU 0) with ``[outbox] rate_limits`` set
to the platform's limit, through the relay adapter, until every reminder is delivered or the
case's time bound passes.

Cases: ``slow`` — 240/min, burst 4: LINE WORKS' documented 240 requests/min with dxbot's
default burst for it (LINE WORKS counts per minute, so it accepts far more at once than 4);
600 reminders, not 10,000, because 10,000 at 4/s take 42 minutes: 600 take 2.5. ``strict`` —
the same with burst 1: every arrival must be 250 ms after the previous one, so any jitter in
arrival times (a busy CPU on either side) earns a 429. ``fast`` — 6,000/min, burst 10, the full
10,000. ``unpaced`` — the slow platform with no ``rate_limits`` for dxbot: what the 429
handling alone achieves (not run by default). dxbot's ``rate_limits`` are set to the platform's.

Reported: allowed rate (the platform's); achieved rate = delivered / seconds from the first to
the last delivery; the ratio uses the stricter steady rate, (delivered − burst) / those seconds,
since the first ``burst`` deliveries are free; 429s the platform answered; rows dead-lettered;
reminders lost (never delivered); idempotency keys delivered twice. Goal: ratio ≥ 0.95, no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common
from bench.common import Proc, table

DUE = "12/9(水) 14:00"
SETTLE_SECONDS = 60.0  # beyond count / rate, how long a case may run before it is cut off


@dataclass(frozen=True)
class Case:
    name: str
    per_minute: float
    burst: int
    count: int
    paced: bool = True


def cases(args: argparse.Namespace) -> list[Case]:
    known = {
        "slow": Case("slow", 240, 4, args.slow_count),
        "strict": Case("strict", 240, 1, args.slow_count),
        "fast": Case("fast", args.fast_per_minute, args.fast_burst, args.fast_count),
        "unpaced": Case("unpaced", 240, 4, args.slow_count, paced=False),
    }
    chosen = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)} (slow, strict, fast, unpaced)")
    return [known[name] for name in chosen]


async def seed(sessions: Any, count: int) -> float:
    """``count`` duty reminders due now, each to its own person; returns the seconds taken."""
    from bot.app import COMMAND_ACTION, App
    from bot.i18n import Catalog
    from bot.jobs import JobContext
    from bot.messages import Choice, OutgoingMessage

    app = App(Catalog.load(default="ja"))
    now = datetime.now(UTC)
    began = time.perf_counter()
    async with sessions() as session, session.begin():
        job = JobContext(app, session, now)
        for n in range(count):
            text = job.t("ja", "duties.reminder", group="窓口部会", title="定例部会", due=DUE, id=n)
            buttons = (
                Choice(job.t("ja", "duties.done_button"), COMMAND_ACTION, f"done {n}"),
                Choice(job.t("ja", "duties.snooze_button"), COMMAND_ACTION, f"snooze {n}"),
            )
            await job.send(OutgoingMessage(text, choices=buttons, user_id=f"U{n:05d}"), "relay")
    return time.perf_counter() - began


async def platform_stats(http: Any, base: str) -> dict[str, Any]:
    async with http.get(f"{base}/stats") as response:
        data: dict[str, Any] = json.loads(await response.read())
    return data


async def run_case(case: Case, url: str, platform_url: str) -> dict[str, Any]:
    import aiohttp
    from sqlalchemy import func, select

    from bot import outbox
    from bot.adapters.relay import RelayAdapter
    from bot.clock import SystemClock
    from bot.dispatcher import OutboxDispatcher
    from config.settings import Settings
    from storage import migrate
    from storage.engine import create_engine, session_factory
    from storage.models import OutboxMessage

    limits = {"relay": {"per_minute": case.per_minute, "burst": case.burst}} if case.paced else {}
    settings = Settings.model_validate(
        {"database": {"url": url}, "outbox": {"rate_limits": limits}}
    )
    engine = create_engine(url, sqlite_synchronous=settings.database.sqlite_synchronous)
    adapter = RelayAdapter("bench-secret", outbound_url=platform_url)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        seed_s = await seed(sessions, case.count)
        dispatcher = OutboxDispatcher(sessions, {"relay": adapter}, settings.outbox, SystemClock())
        bound = case.count / (case.per_minute / 60) + SETTLE_SECONDS
        cpu0, wall0 = time.process_time(), time.monotonic()
        runner = asyncio.create_task(dispatcher.run())
        async with aiohttp.ClientSession() as http:
            stats = await platform_stats(http, platform_url)
            while time.monotonic() - wall0 < bound and runner.done() is False:
                if stats["unique_keys"] >= case.count:
                    break
                await asyncio.sleep(1.0)
                stats = await platform_stats(http, platform_url)
            await dispatcher.stop(grace=5)
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            cpu = time.process_time() - cpu0
            wall = time.monotonic() - wall0
            stats = await platform_stats(http, platform_url)
        async with sessions() as session:
            counted = dict(
                (status, n)
                for status, n in await session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
            )
            dead_429 = await session.scalar(
                select(func.count()).where(
                    OutboxMessage.status == outbox.DEAD, OutboxMessage.last_error.contains("429")
                )
            )
    finally:
        await adapter.close()
        await engine.dispose()
    first, last = stats["first"], stats["last"]
    span = (last - first) if first is not None and last is not None else float("nan")
    delivered = stats["delivered"]
    allowed = case.per_minute / 60
    achieved = delivered / span if span and span > 0 else float("nan")
    steady = (delivered - case.burst) / span if span and span > 0 else float("nan")
    return {
        "allowed": allowed,
        "achieved": achieved,
        "steady": steady,
        "ratio": steady / allowed,
        "limited": stats["limited"],
        "dead": counted.get(outbox.DEAD, 0),
        "dead_429": dead_429 or 0,
        "lost": case.count - stats["unique_keys"],
        "duplicates": stats["duplicates"],
        "delivered": delivered,
        "span": span,
        "wall": wall,
        "cpu_pct": 100 * cpu / wall if wall else float("nan"),
        "seed_s": seed_s,
    }


def database_url(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'fanout.sqlite3'}"
    return common.pg_recreate(common.db_name("fanout"))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases", default="slow,strict,fast", help="slow, strict, fast, unpaced (comma list)"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--slow-count", type=int, default=600, help="reminders at 240/min (slow, strict, unpaced)"
    )
    parser.add_argument("--fast-count", type=int, default=10_000, help="reminders, fast case")
    parser.add_argument("--fast-per-minute", type=float, default=6_000)
    parser.add_argument("--fast-burst", type=int, default=10)
    args = parser.parse_args()
    chosen = cases(args)
    if args.database == "postgresql" and not common.pg_available():
        raise SystemExit("PostgreSQL is not reachable on 127.0.0.1:5432")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(common.SERVER_CPU)})
    common.print_machine()
    results: list[list[Any]] = []
    for case in chosen:
        port = common.free_port()
        argv = [common.python(), "-m", "bench.servers", "platform", "--port", str(port)]
        argv += ["--per-minute", f"{case.per_minute:g}", "--burst", str(case.burst)]
        with (
            tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp,
            common.stopping([Proc(f"platform-{case.name}", argv, cpu=common.LOAD_CPU)]) as procs,
        ):
            base = f"http://127.0.0.1:{port}"
            procs[0].wait_http(f"{base}/healthz")
            url = database_url(args.database, Path(tmp))
            try:
                found = asyncio.run(run_case(case, url, base))
            finally:
                if args.database == "postgresql":
                    common.pg_drop(common.db_name("fanout"))
        ok = found["ratio"] >= 0.95 and found["lost"] == 0 and found["dead_429"] == 0
        print(
            f"{case.name}: {found['delivered']} delivered in {found['span']:.1f}s, "
            f"ratio {found['ratio']:.3f}, 429s {found['limited']}, lost {found['lost']}",
            flush=True,
        )
        results.append(
            [
                case.name,
                args.database,
                f"{case.per_minute:,.0f}",
                case.burst,
                "yes" if case.paced else "no",
                f"{case.count:,}",
                found["allowed"],
                found["achieved"],
                found["steady"],
                found["ratio"],
                found["limited"],
                found["dead"],
                found["lost"],
                found["duplicates"],
                found["span"],
                found["wall"],
                found["cpu_pct"],
                found["seed_s"],
                common.verdict(ok),
            ]
        )
    print()
    print(
        table(
            [
                "case",
                "database",
                "limit /min",
                "burst",
                "dxbot paced",
                "reminders",
                "allowed /s",
                "achieved /s",
                "steady /s",
                "steady / allowed",
                "429s",
                "dead",
                "lost",
                "duplicates",
                "first → last s",
                "wall s",
                "dxbot CPU %",
                "seeding s",
                "≥ 0.95, no 429 loss",
            ],
            results,
        )
    )


if __name__ == "__main__":
    main()
