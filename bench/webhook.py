"""Webhook ack throughput and latency: dxbot against its limits and slack-bolt, side by side.

    python -m bench.webhook                    # 3 rounds, 10 s measured, all targets
    python -m bench.webhook --rounds 5 --seconds 10 --targets dxbot-sqlite,limit-durable-sqlite

Each round starts every target afresh (fresh database), in the same order A B C …: start-up to
healthy, idle RSS, a 1-connection probe (unloaded latency), then 32 connections (warm-up, then
the measured window) from wrk pinned to CPU 1, the server pinned to CPU 0. Every request is
unique and correctly signed (a reused event id would take dxbot's cheap duplicate path).
Ratios are taken per round and the median over the rounds is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common
from bench.common import Proc, median, table
from bench.servers import RELAY_SECRET, SLACK_SECRET

USERS = 500  # events come from this many users (and direct conversations)


# ------------------------------------------------------------------ requests


def relay_rows(count: int, prefix: str, text: str = "ヘルプ") -> Iterator[list[str]]:
    """Signed relay message events, each with its own event id."""
    ts = str(int(time.time()))
    secret = RELAY_SECRET.encode()
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for n in range(count):
        user = f"U{n % USERS:04d}"
        body = json.dumps(
            {
                "event_id": f"{prefix}-{n}",
                "type": "message",
                "occurred_at": now,
                "user": {"id": user, "name": "田中 花子"},
                "conversation": {"id": f"dm-{user}", "kind": "direct"},
                "text": text,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        raw = body.encode()
        sig = (
            "v1=" + hmac.new(secret, b"v1:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
        )
        yield ["application/json", ts, sig, body]


RELAY_HEADERS = ["Content-Type", "X-DXBot-Request-Timestamp", "X-DXBot-Signature"]


def slack_rows(count: int, prefix: str) -> Iterator[list[str]]:
    """Signed ``/dx status`` slash commands (form-encoded, like Slack sends them)."""
    ts = str(int(time.time()))
    secret = SLACK_SECRET.encode()
    for n in range(count):
        user = f"U{n % USERS:04d}"
        body = urllib.parse.urlencode(
            {
                "token": "legacy-token",
                "team_id": "T0BENCH",
                "team_domain": "bench",
                "channel_id": f"D{user}",
                "channel_name": "directmessage",
                "user_id": user,
                "user_name": "tanaka",
                "command": "/dx",
                "text": "status",
                "api_app_id": "A0BENCH",
                "response_url": "https://hooks.slack.invalid/commands/T0BENCH/1/x",
                "trigger_id": f"{prefix}.{n}",
            }
        )
        sig = "v0=" + hmac.new(secret, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        yield ["application/x-www-form-urlencoded", ts, sig, body]


SLACK_HEADERS = ["Content-Type", "X-Slack-Request-Timestamp", "X-Slack-Signature"]


# ------------------------------------------------------------------ targets


@dataclass
class Target:
    name: str
    path: str
    start: Callable[[int, Path], list[Proc]]  # port, workdir -> processes (server last)
    slack: bool = False
    cap: int = 15_000  # requests/s the request list is sized for in the warm-up


def _server(kind: str, *extra: str) -> Callable[[int, Path], list[Proc]]:
    def start(port: int, work: Path) -> list[Proc]:
        argv = [common.python(), "-m", "bench.servers", kind, "--port", str(port), *extra]
        if kind == "sqlite":
            argv += ["--path", str(work / "limit.sqlite3")]
        if kind == "pg":
            url = common.pg_recreate(common.db_name("limit")).replace("+asyncpg", "")
            argv += ["--url", url]
        return [Proc(f"limit-{kind}", argv)]

    return start


def dxbot_env(
    port: int, database_url: str, outbound: str, synchronous: str = "FULL"
) -> dict[str, str]:
    return {
        "DXBOT_DATABASE_SQLITE_SYNCHRONOUS": synchronous,
        "DXBOT_DATABASE_URL": database_url,
        "DXBOT_HTTP_PORT": str(port),
        "DXBOT_RELAY_SECRET": RELAY_SECRET,
        "DXBOT_RELAY_OUTBOUND_URL": outbound,
        "DXBOT_RELAY_OUTBOUND_TOKEN": "outbound-token",
        "DXBOT_LOGGING_LEVEL": "WARNING",
    }


def dxbot_start(
    backend: str,
    outbound: str,
    synchronous: str = "FULL",
    *,
    first_start: bool = False,
    max_backlog: int | None = None,
) -> Callable[[int, Path], list[Proc]]:
    """``dxbot serve`` on a new, migrated database (a restart, the usual case); with
    ``first_start`` on SQLite, on a new file whose schema ``serve`` builds itself. ``max_backlog``
    overrides ``inbox.max_backlog`` (0: no bound)."""

    def start(port: int, work: Path) -> list[Proc]:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{work / 'dxbot.sqlite3'}"
        else:
            url = common.pg_recreate(common.db_name("dxbot"))
        if not (backend == "sqlite" and first_start):
            env = dxbot_env(port, url, outbound)
            migrate = Proc("dxbot-migrate", [common.python(), "-m", "bot.cli", "migrate"], env=env)
            if migrate.proc.wait(timeout=120) != 0:
                raise RuntimeError(f"dxbot migrate failed:\n{migrate.output()}")
        env = dxbot_env(port, url, outbound, synchronous)
        if max_backlog is not None:
            env["DXBOT_INBOX_MAX_BACKLOG"] = str(max_backlog)
        return [Proc(f"dxbot-{backend}", [common.python(), "-m", "bot.cli", "serve"], env=env)]

    return start


# Ack capacity is measured without the backlog bound: in 14 s at full speed the backlog passes
# inbox.max_backlog and the 503s it then answers are refusals, not acks (bench.e2e keeps it).
NO_BOUND = 0  # inbox.max_backlog off


def targets(outbound: str, pg: bool) -> list[Target]:
    found = [
        Target("limit-ack", "/hooks/relay", _server("ack")),
        Target("limit-durable-sqlite", "/hooks/relay", _server("sqlite"), cap=8000),
        Target(
            "dxbot-sqlite",
            "/hooks/relay",
            dxbot_start("sqlite", outbound, max_backlog=NO_BOUND),
            cap=4000,
        ),
        Target(
            "limit-durable-sqlite-normal",
            "/hooks/relay",
            _server("sqlite", "--synchronous", "NORMAL"),
            cap=8000,
        ),
        Target(
            "dxbot-sqlite-normal",
            "/hooks/relay",
            dxbot_start("sqlite", outbound, "NORMAL", max_backlog=NO_BOUND),
            cap=4000,
        ),
    ]
    if pg:
        found += [
            Target("limit-durable-pg", "/hooks/relay", _server("pg"), cap=8000),
            Target(
                "dxbot-pg",
                "/hooks/relay",
                dxbot_start("pg", outbound, max_backlog=NO_BOUND),
                cap=4000,
            ),
        ]
    found.append(Target("slack-bolt", "/slack/events", _server("bolt"), slack=True, cap=8000))
    return found


# ------------------------------------------------------------------ one run of one target


@dataclass
class Result:
    target: str
    startup_s: float = float("nan")
    idle_rss_mb: float = float("nan")
    probe: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    cpu_pct: float = float("nan")
    db_cpu_pct: float = float("nan")
    hwm_mb: float = float("nan")
    rss_after_mb: float = float("nan")


def _requests(target: Target, work: Path, name: str, count: int) -> Path:
    path = work / f"{name}.tsv"
    prefix = f"{name}-{uuid.uuid4().hex[:12]}"
    if target.slack:
        common.write_requests(path, SLACK_HEADERS, slack_rows(count, prefix))
    else:
        common.write_requests(path, RELAY_HEADERS, relay_rows(count, prefix))
    return path


def run_target(target: Target, args: argparse.Namespace) -> Result:
    result = Result(target.name)
    with tempfile.TemporaryDirectory(prefix=f"bench-{target.name}-") as tmp:
        work = Path(tmp)
        port = common.free_port()
        base = f"http://127.0.0.1:{port}"
        procs = target.start(port, work)
        with common.stopping(procs):
            server = procs[-1]
            result.startup_s = server.wait_http(f"{base}/healthz")
            time.sleep(0.5)
            result.idle_rss_mb = server.rss_mb()
            url = base + target.path
            # 1-connection probe: unloaded latency.
            if args.probe_seconds > 0:
                warm = _requests(target, work, "probe-warm", 4000)
                common.run_wrk(url, warm, connections=1, seconds=1)
                reqs = _requests(target, work, "probe", int(3000 * args.probe_seconds))
                result.probe = common.run_wrk(url, reqs, connections=1, seconds=args.probe_seconds)
            # 32 connections: warm-up sized by the cap, measured window sized by the warm-up.
            warm = _requests(target, work, "warm", int(target.cap * args.warmup))
            warmed = common.run_wrk(url, warm, connections=args.connections, seconds=args.warmup)
            count = int(max(warmed["rps"], 500) * args.seconds * 2) + 2000
            reqs = _requests(target, work, "load", count)
            spy = _profiler(args, server, f"{target.name}-{int(time.time())}")
            cpu0 = server.cpu_seconds()
            db0 = common.postgres_cpu_seconds()
            wall0 = time.monotonic()
            result.load = common.run_wrk(
                url, reqs, connections=args.connections, seconds=args.seconds
            )
            wall = time.monotonic() - wall0
            result.cpu_pct = 100 * (server.cpu_seconds() - cpu0) / wall
            if "pg" in target.name:
                result.db_cpu_pct = 100 * (common.postgres_cpu_seconds() - db0) / wall
            result.hwm_mb = server.hwm_mb()
            result.rss_after_mb = server.rss_mb()
            if spy is not None:
                spy.wait(timeout=60)
    return result


def _profiler(args: argparse.Namespace, server: Proc, name: str) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server through the measured window (``--profile DIR``)."""
    if args.profile is None or not server.name.startswith("dxbot"):
        return None
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / f"{name}.txt"
    argv = common.pinned(
        common.LOAD_CPU,
        [
            "py-spy",
            "record",
            "-p",
            str(server.pid),
            "-d",
            str(int(args.seconds)),
            "-r",
            "200",
            "-f",
            "raw",
            "--nonblocking",
            "-o",
            str(out),
        ],
    )
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ the report


# Item 1's goal is for an event durable before its 200: SQLite's FULL (dxbot's default) and
# PostgreSQL. The NORMAL pair is shown without a goal: a NORMAL commit may be lost to a power
# cut, and its fast commits let handling take about three times the share of the flood (py-spy),
# so acks/s there trade against events handled.
RATIOS = [
    ("dxbot-sqlite / limit-durable-sqlite", "dxbot-sqlite", "limit-durable-sqlite", 0.75),
    (
        "dxbot-sqlite-normal / limit-durable-sqlite-normal",
        "dxbot-sqlite-normal",
        "limit-durable-sqlite-normal",
        None,
    ),
    ("dxbot-pg / limit-durable-pg", "dxbot-pg", "limit-durable-pg", 0.75),
    ("dxbot-sqlite / slack-bolt", "dxbot-sqlite", "slack-bolt", None),
    ("dxbot-pg / slack-bolt", "dxbot-pg", "slack-bolt", None),
    ("limit-durable-sqlite / limit-ack", "limit-durable-sqlite", "limit-ack", None),
]


def report(rounds: list[dict[str, Result]]) -> str:
    names = list(rounds[0])
    out = []

    def med(name: str, get: Callable[[Result], float]) -> float:
        return median(get(r[name]) for r in rounds if name in r)

    rows = []
    for name in names:
        rows.append(
            [
                name,
                med(name, lambda r: r.load.get("rps", float("nan"))),
                med(name, lambda r: r.load.get("p50_us", float("nan")) / 1000),
                med(name, lambda r: r.load.get("p99_us", float("nan")) / 1000),
                int(sum(r[name].load.get("errors", 0) for r in rounds)),
                med(name, lambda r: r.cpu_pct),
                med(name, lambda r: r.db_cpu_pct),
                med(name, lambda r: r.probe.get("p50_us", float("nan")) / 1000),
                med(name, lambda r: r.probe.get("p99_us", float("nan")) / 1000),
                med(name, lambda r: r.startup_s),
                med(name, lambda r: r.idle_rss_mb),
                max(r[name].hwm_mb for r in rounds),
            ]
        )
    out.append(
        table(
            [
                "target",
                "req/s (32 conn)",
                "p50 ms",
                "p99 ms",
                "errors",
                "server CPU %",
                "postgres CPU %",
                "1-conn p50 ms",
                "1-conn p99 ms",
                "start-up s",
                "idle RSS MB",
                "peak RSS (VmHWM) MB",
            ],
            rows,
        )
    )
    ratio_rows = []
    for label, a, b, goal in RATIOS:
        if a not in names or b not in names:
            continue
        per_round = [r[a].load["rps"] / r[b].load["rps"] for r in rounds if r[b].load.get("rps")]
        m = median(per_round)
        ratio_rows.append(
            [
                label,
                m,
                " ".join(f"{x:.2f}" for x in per_round),
                f"≥ {goal}" if goal else "-",
                common.verdict(m >= goal) if goal else "-",
            ]
        )
    out.append(table(["ratio (req/s)", "median", "per round", "goal", "verdict"], ratio_rows))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--probe-seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--targets", default="", help="comma-separated subset, in this order")
    parser.add_argument("--profile", type=Path, help="py-spy the dxbot targets; stacks here")
    parser.add_argument("--json", type=Path, help="also write every round's raw numbers here")
    args = parser.parse_args()
    common.print_machine()
    pg = common.pg_available()
    port = common.free_port()
    platform = Proc(
        "platform",
        [common.python(), "-m", "bench.servers", "platform", "--port", str(port)],
        cpu=common.LOAD_CPU,
    )
    rounds: list[dict[str, Result]] = []
    with common.stopping([platform]):
        platform.wait_http(f"http://127.0.0.1:{port}/healthz")
        chosen = targets(f"http://127.0.0.1:{port}", pg)
        if args.targets:
            wanted = args.targets.split(",")
            chosen = [t for t in chosen if t.name in wanted]
        try:
            for n in range(args.rounds):
                found: dict[str, Result] = {}
                for target in chosen:
                    found[target.name] = result = run_target(target, args)
                    print(
                        f"round {n + 1} {target.name}: {result.load['rps']:.0f} req/s, "
                        f"p99 {result.load['p99_us'] / 1000:.1f} ms, "
                        f"errors {result.load['errors']}, CPU {result.cpu_pct:.0f} %, "
                        f"1-conn p50 {result.probe.get('p50_us', 0) / 1000:.2f} ms",
                        flush=True,
                    )
                rounds.append(found)
        finally:
            if pg:
                for name in (common.db_name("dxbot"), common.db_name("limit")):
                    common.pg_drop(name)
    if args.json:
        args.json.write_text(
            json.dumps([{k: vars(v) for k, v in r.items()} for r in rounds], indent=1)
        )
    print()
    print(report(rounds))


if __name__ == "__main__":
    main()
