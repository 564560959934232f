"""Weekly and monthly digests over 1k → 10k → 100k seeded issues, on SQLite and PostgreSQL.

    python -m bench.digests                       # sizes 1000,10000,100000; both databases
    python -m bench.digests --sizes 1000,10000 --repeat 7 --backends sqlite

Seeded data: issues over two 年度 (FY2025–FY2026) from 40 sections, 8 working groups (and the
policy queue), each with a status history of 0–5 moves (issue_events), written in bulk. The
digest is built as the scheduled job builds it (handlers.digest_weekly / digest_monthly), in a
fresh session; one untimed run warms the caches, then the median of ``--repeat`` runs is taken.
The process pins itself to CPU 0. Goal: ≤ 250 ms each at 100,000 issues.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import common
from bench.common import table
from tests.builders import jst

GROUPS = [f"部会{n}" for n in range(1, 9)]
SECTION_ROOTS = [
    "市民", "税務", "福祉", "会計", "総務", "企画", "財政", "防災", "環境", "農林",
    "商工", "観光", "建設", "都市計画", "上下水道", "教育総務", "学校教育", "生涯学習",
    "保険年金", "子育て支援",
]  # fmt: skip
SECTIONS = [f"{root}課" for root in SECTION_ROOTS] + [f"{root}係" for root in SECTION_ROOTS]
PATH = ("received", "triage", "solution", "pilot", "implemented", "closed")
TITLES = ["申請書の転記", "窓口予約", "会議資料", "旅費精算", "庁内問い合わせ", "押印の廃止"]


NOW = jst(2027, 1, 4, 9)  # a Monday, the first business day after 年末年始


def rows(count: int, seed: int = 42) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    start = jst(2025, 4, 1, 9)
    span = (NOW - start).total_seconds()
    issues, events = [], []
    for n in range(1, count + 1):
        created = start + timedelta(seconds=int(span * rng.random()))
        steps = rng.choice((0, 0, 1, 1, 2, 3, 4, 5))
        at = created
        for step in range(steps):
            nxt = at + timedelta(seconds=rng.randint(3600, 40 * 86400))
            if nxt > NOW:
                steps = step
                break
            at = nxt
            events.append(
                {
                    "issue_id": n,
                    "at": at,
                    "actor_adapter": "relay",
                    "actor_id": f"L{rng.randint(1, 16)}",
                    "actor_name": "部会リーダー",
                    "kind": "status",
                    "from_value": PATH[step],
                    "to_value": PATH[step + 1],
                }
            )
        minutes, staff = rng.choice((10, 15, 30, 60, 120)), rng.randint(1, 8)
        fy = 2025 if created < jst(2026, 4, 1) else 2026
        issues.append(
            {
                "id": n,
                "number": f"R{fy - 2018}-{n:06d}",
                "fiscal_year": fy,
                "seq": n,
                "title": rng.choice(TITLES),
                "section": rng.choice(SECTIONS),
                "section_known": True,
                "status": PATH[steps] if rng.random() > 0.05 else "on_hold",
                "working_group": rng.choice([None, *GROUPS]),
                "reporter_adapter": "relay",
                "reporter_id": f"S{rng.randint(1, 800)}",
                "reporter_name": "職員",
                "answers": {"frequency": "daily", "minutes": minutes, "staff": staff},
                "annual_hours": round(minutes * staff * 240 / 60, 1),
                "contact_ok": True,
                "support_count": rng.randint(0, 5),
                "created_at": created,
                "updated_at": at,
            }
        )
    return issues, events


def settings_for(url: str) -> Any:
    from config.settings import Settings

    return Settings.model_validate(
        {
            "database": {"url": url, "sqlite_synchronous": "NORMAL"},
            "groups": [{"name": g, "channel": f"room-{i}"} for i, g in enumerate(GROUPS)],
            "policy": {"users": ["P1"], "channel": "room-policy"},
            "directory": {"sections": SECTIONS},
            "duties": [],
        }
    )


def time_queries(spent: dict[str, float]) -> None:
    """Wrap every query function the digests call, adding its wall time (ms) to ``spent``.

    Patched where they are defined and where the digest builders imported them by name.
    """
    import functools
    import importlib
    import inspect

    def wrap(fn: Any, label: str) -> Any:
        @functools.wraps(fn)
        async def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kw)
            finally:
                spent[label] = spent.get(label, 0.0) + (time.perf_counter() - t0) * 1000

        return timed

    users = [importlib.import_module(f"handlers.digest_{k}") for k in ("weekly", "monthly")]
    for source in (
        "storage.digest_queries",
        "storage.digest_medians",
        "storage.digest_pipeline",
        "storage.issue_queries",
    ):
        try:
            module = importlib.import_module(source)
        except ImportError:
            continue
        for name, fn in list(vars(module).items()):
            if not inspect.iscoroutinefunction(fn) or fn.__module__ != module.__name__:
                continue
            timed = wrap(fn, f"{source.split('.')[-1]}.{name}")
            for target in (module, *users):
                for attr, value in list(vars(target).items()):
                    if value is fn:
                        setattr(target, attr, timed)


async def measure(url: str, count: int, repeat: int, breakdown: bool = False) -> dict[str, Any]:
    from sqlalchemy import insert, text

    from bot.calendar import MunicipalCalendar
    from bot.clock import FrozenClock
    from bot.runtime import Runtime
    from handlers.digest_monthly import build_monthly
    from handlers.digest_schedule import Period, month_period
    from handlers.digest_weekly import build_weekly
    from storage import migrate
    from storage.issues import Issue, IssueEvent

    runtime = Runtime(settings_for(url), clock=FrozenClock(NOW), webhooks={}, senders={})
    try:
        await migrate.upgrade(runtime.engine)
        issues, events = rows(count)
        began = time.perf_counter()
        async with runtime.sessions() as session, session.begin():
            for chunk in range(0, len(issues), 5000):
                await session.execute(insert(Issue), issues[chunk : chunk + 5000])
            for chunk in range(0, len(events), 5000):
                await session.execute(insert(IssueEvent), events[chunk : chunk + 5000])
        async with runtime.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
        seeded = time.perf_counter() - began
        month = month_period(MunicipalCalendar(), date(2026, 12, 1))
        week = Period(jst(2026, 12, 28, 9), NOW)
        group = runtime.app.settings.groups[0]
        timings: dict[str, list[float]] = {"weekly": [], "monthly": []}
        texts = {}
        spent: dict[str, float] = {}
        for n in range(repeat + 1):
            if n == 1 and breakdown:
                time_queries(spent)  # the first run warms the caches, as a running bot's are
            async with runtime.sessions() as session:
                t0 = time.perf_counter()
                weekly = await build_weekly(session, runtime.app, group, week, NOW, "ja")
                t1 = time.perf_counter()
                monthly = await build_monthly(session, runtime.app, month, "ja")
                t2 = time.perf_counter()
            if n:
                timings["weekly"].append(t1 - t0)
                timings["monthly"].append(t2 - t1)
            texts = {"weekly": weekly.text, "monthly": monthly.text}
        return {
            "seed_s": seeded,
            "events": len(events),
            **{k: statistics.median(v) * 1000 for k, v in timings.items()},
            **{f"{k}_max": max(v) * 1000 for k, v in timings.items()},
            "texts": texts,
            "spent": {k: v / repeat for k, v in sorted(spent.items(), key=lambda kv: -kv[1])},
        }
    finally:
        await runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.digests", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--show", action="store_true", help="print the 100k digests' text")
    parser.add_argument(
        "--breakdown", action="store_true", help="time each query at the largest size"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(common.SERVER_CPU)})
    common.print_machine()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    if "postgresql" in backends and not common.pg_available():
        print("PostgreSQL is not reachable on 127.0.0.1:5432: skipped")
        backends.remove("postgresql")
    results: list[list[Any]] = []
    for backend in backends:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="bench-digests-") as tmp:
                if backend == "sqlite":
                    url = f"sqlite+aiosqlite:///{Path(tmp) / 'digests.sqlite3'}"
                else:
                    url = common.pg_recreate(common.db_name("digests"))
                try:
                    deep = args.breakdown and size == sizes[-1]
                    found = asyncio.run(measure(url, size, args.repeat, deep))
                finally:
                    if backend != "sqlite":
                        common.pg_drop(common.db_name("digests"))
            ok = max(found["weekly"], found["monthly"]) <= 250
            results.append(
                [
                    backend,
                    f"{size:,}",
                    f"{found['events']:,}",
                    found["weekly"],
                    found["weekly_max"],
                    found["monthly"],
                    found["monthly_max"],
                    found["seed_s"],
                    common.verdict(ok) if size >= 100_000 else "-",
                ]
            )
            print(
                f"{backend} {size}: weekly {found['weekly']:.1f} ms, "
                f"monthly {found['monthly']:.1f} ms",
                flush=True,
            )
            if found["spent"]:
                print(table(["query", "ms per digest pair"], list(found["spent"].items())))
            if args.show and size == sizes[-1]:
                print(found["texts"]["weekly"], "\n", found["texts"]["monthly"], sep="")
    print()
    print(
        table(
            [
                "database",
                "issues",
                "status moves",
                "weekly ms (median)",
                "weekly max",
                "monthly ms (median)",
                "monthly max",
                "seeding s",
                "≤ 250 ms at 100k",
            ],
            results,
        )
    )


if __name__ == "__main__":
    main()
