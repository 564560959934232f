"""Shared pieces of the benchmarks: machine facts, pinned processes, /proc readings, wrk, tables.

Everything binds to 127.0.0.1, every loop is bounded, and every process started here is
stopped by its own PID (``Proc.stop``), also when a benchmark fails half-way.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = "0"  # the server under test
LOAD_CPU = "1"  # wrk, load generators and fake platforms
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def db_name(kind: str) -> str:
    """This run's own database name, so two benchmark runs never drop each other's."""
    return f"dxbench_{kind}_{os.getpid()}"


# ------------------------------------------------------------------ machine facts


def machine_facts() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    wrk = "not installed"
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        wrk = (
            (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr) else "?"
        )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": wrk,
    }


def print_machine() -> None:
    facts = machine_facts()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))


# ------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: str, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cpu`` (exec'd: the PID is the program's own)."""
    if shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", cpu, *argv]


class Proc:
    """A started server process, pinned to a CPU, stopped by PID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cpu: str = SERVER_CPU,
        log: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log or Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **(env or {})}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                pinned(cpu, argv), env=full_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self.started = time.monotonic()
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_http(self, url: str, timeout: float = 30.0) -> float:
        """Poll ``url`` until it answers 200; returns seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=1) as response,
            ):
                if response.status == 200:
                    return time.monotonic() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout}s")

    def status(self) -> dict[str, int]:
        """VmRSS / VmHWM in kB."""
        found: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0])
        return found

    def rss_mb(self) -> float:
        return self.status().get("VmRSS", 0) / 1024

    def hwm_mb(self) -> float:
        return self.status().get("VmHWM", 0) / 1024

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every ``postgres`` process (the server and its backends)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            head, _, rest = stat.read_text().rpartition(")")
            if head.endswith("(postgres"):
                fields = rest.split()
                total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


@contextlib.contextmanager
def stopping(procs: list[Proc]) -> Iterator[list[Proc]]:
    """Stop every process in ``procs`` (by PID) when the block ends, however it ends."""
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(Exception):
                proc.stop()


# ------------------------------------------------------------------ PostgreSQL


def pg_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), timeout=1):
        return True
    return False


def pg_recreate(name: str) -> str:
    """Drop and create database ``name``; returns its asyncpg URL for SQLAlchemy."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def pg_drop(name: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


# ------------------------------------------------------------------ wrk

WRK_LUA = r"""
-- Cycles once through pre-built, unique, signed requests from BENCH_REQS; when they run out
-- it asks for /exhausted (a 404), so a too-short list shows as errors, never as duplicates.
local reqs, n, i = {}, 0, 0
local spent = nil
init = function(args)
  local f = assert(io.open(os.getenv("BENCH_REQS"), "rb"))
  local names = {}
  for name in f:read("*l"):gmatch("[^\t]+") do names[#names + 1] = name end
  for line in f:lines() do
    local fields = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
    local headers = {}
    for k = 1, #names do headers[names[k]] = fields[k] end
    n = n + 1
    reqs[n] = wrk.format("POST", wrk.path, headers, fields[#names + 1])
  end
  f:close()
  spent = wrk.format("POST", "/exhausted", {["Content-Type"] = "application/json"}, "{}")
end
request = function()
  i = i + 1
  if i > n then return spent end
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
"""


def write_requests(path: Path, header_names: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """The request list wrk's script reads: header names, then header values + body per line."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("\t".join(header_names) + "\n")
        for row in rows:
            out.write("\t".join(row) + "\n")
            count += 1
    return count


def run_wrk(
    url: str, requests_file: Path, *, connections: int, seconds: float, timeout: float = 10.0
) -> dict[str, Any]:
    """One wrk run pinned to LOAD_CPU; returns the script's summary (latencies in µs)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA)
    try:
        argv = pinned(
            LOAD_CPU,
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout:g}s",
                "-s",
                script.name,
                url,
            ],
        )
        env = {**os.environ, "BENCH_REQS": str(requests_file)}
        out = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=seconds + 120, check=False
        )
    finally:
        os.unlink(script.name)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            data: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
            data["errors"] = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
            # Only answered 2xx count: a refusal (503 when the backlog is full) is not an ack.
            ok = max(0, data["requests"] - data["errors"])
            data["rps"] = ok / (data["duration_us"] / 1e6)
            return data
    raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")


# ------------------------------------------------------------------ tables


def median(values: Iterable[float]) -> float:
    found = [v for v in values if v == v]  # drop NaN
    return statistics.median(found) if found else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (it reads as plain text too)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:
                return "-"
            if 0 < abs(value) < 0.1:
                return f"{value:.2g}"
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def python() -> str:
    return sys.executable
