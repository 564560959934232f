"""Start-up to healthy and idle RSS of ``dxbot serve``, beside a bare aiohttp process.

    python -m bench.memory                   # 5 starts each, SQLite and PostgreSQL
    python -m bench.memory --starts 3 --imports 15

Each start: a new, migrated database (a restart, the usual case; ``dxbot-sqlite-first-start``:
a new SQLite file whose schema ``serve`` builds itself, as on a town's first day),
``dxbot serve`` pinned to CPU 0, polled on /healthz every 10 ms (start-up = process spawn →
first 200), then RSS (VmRSS) 2 s later. ``--imports N`` also prints the N heaviest modules by
``python -X importtime`` (cumulative µs), the usual cause of both.
RSS after a sustained run is measured by ``python -m bench.e2e`` (column "RSS after").
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench import common, webhook
from bench.common import Proc, median, table

FIRST = "-first-start"  # a new SQLite file: serve builds its schema (storage.sqlite_schema)


def one(kind: str, platform: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        port = common.free_port()
        if kind == "limit-ack":
            procs = webhook._server("ack")(port, Path(tmp))
        else:
            backend = kind.removeprefix("dxbot-").removesuffix(FIRST)
            start = webhook.dxbot_start(backend, platform, first_start=kind.endswith(FIRST))
            procs = start(port, Path(tmp))
        with common.stopping(procs):
            startup = procs[-1].wait_http(f"http://127.0.0.1:{port}/healthz")
            time.sleep(2)
            return startup, procs[-1].rss_mb()


def heaviest_imports(count: int) -> list[tuple[str, float]]:
    out = subprocess.run(
        [common.python(), "-X", "importtime", "-c", "import bot.cli, bot.server, handlers"],
        capture_output=True,
        text=True,
        cwd=common.ROOT,
        check=False,
    )
    found = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(2)) <= 2:  # top-level imports only
            found.append((m.group(3), int(m.group(1)) / 1000))
    return sorted(found, key=lambda x: -x[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--imports", type=int, default=12)
    args = parser.parse_args()
    common.print_machine()
    kinds = ["limit-ack", "dxbot-sqlite", f"dxbot-sqlite{FIRST}"]
    kinds += ["dxbot-pg"] if common.pg_available() else []
    port = common.free_port()
    platform = f"http://127.0.0.1:{port}"
    proc = Proc(
        "platform",
        [common.python(), "-m", "bench.servers", "platform", "--port", str(port)],
        cpu=common.LOAD_CPU,
    )
    found: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    with common.stopping([proc]):
        proc.wait_http(f"{platform}/healthz")
        try:
            for _ in range(args.starts):
                for kind in kinds:  # interleaved
                    found[kind].append(one(kind, platform))
        finally:
            if "dxbot-pg" in kinds:
                common.pg_drop(common.db_name("dxbot"))
    rows = []
    for kind, runs in found.items():
        startup = median(s for s, _ in runs)
        rss = median(r for _, r in runs)
        dx = kind.startswith("dxbot")
        rows.append(
            [
                kind,
                startup,
                max(s for s, _ in runs),
                rss,
                common.verdict(startup <= 1.5) if dx else "-",
                common.verdict(rss <= 80) if dx else "-",
            ]
        )
    print()
    print(
        table(
            ["process", "start-up s (median)", "start-up max", "idle RSS MB", "≤ 1.5 s", "≤ 80 MB"],
            rows,
        )
    )
    if args.imports:
        print()
        print(table(["top-level import", "cumulative ms"], heaviest_imports(args.imports)))


if __name__ == "__main__":
    main()
