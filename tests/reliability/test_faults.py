"""Crashes, duplicates, outages and several processes, with real processes on PostgreSQL.

Each test prints its counts (run pytest with -s to see them).
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import aiohttp

from tests.fakes import FakeRelayPlatform
from tests.reliability.checks import assert_exactly_once, wait_drained
from tests.reliability.cluster import ServeProcess
from tests.reliability.proxy import CuttableProxy
from tests.reliability.traffic import Traffic


async def test_kill_9_at_random_points_loses_nothing(pg: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    people = [f"K{i:02d}" for i in range(25)]
    platform = await FakeRelayPlatform().start()
    async with aiohttp.ClientSession() as http:
        server = ServeProcess(pg, platform.url, tmp_path / "serve.log")
        await server.start(http)
        traffic = Traffic(http, lambda: server.url)
        talking = asyncio.gather(*(traffic.converse(p, rng, pause=0.05) for p in people))
        for _ in range(3):  # kill -9 three times while people are mid-form
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            server.kill(signal.SIGKILL)
            await asyncio.sleep(0.3)
            await server.start(http)
        await talking
        outcome = await wait_drained(pg)
        assert server.kill(signal.SIGTERM) == 0
    await platform.stop()
    counts = assert_exactly_once(outcome, traffic.acked, people, platform)
    print(f"crash: kills=3 refused={traffic.refused} {counts}")


async def test_duplicates_and_late_retries_are_handled_once(pg: str, tmp_path: Path) -> None:
    rng = random.Random(11)
    people = [f"D{i:02d}" for i in range(25)]
    platform = await FakeRelayPlatform().start()
    async with aiohttp.ClientSession() as http:
        server = ServeProcess(pg, platform.url, tmp_path / "serve.log")
        await server.start(http)
        traffic = Traffic(http, lambda: server.url)
        await asyncio.gather(*(traffic.converse(p, rng, repeat=0.10) for p in people))
        outcome = await wait_drained(pg)
        server.kill(signal.SIGTERM)
    await platform.stop()
    counts = assert_exactly_once(outcome, traffic.acked, people, platform)
    assert traffic.repeats > 10 and counts["repeated_deliveries"] == 0
    print(f"duplicates: repeats={traffic.repeats} {counts}")


async def test_platform_outage_then_everything_arrives_in_order(pg: str, tmp_path: Path) -> None:
    rng = random.Random(5)
    people = [f"O{i:02d}" for i in range(10)]
    platform = await FakeRelayPlatform().start()
    platform.hang_seconds = 3
    platform.script.extend([500] * 10 + [(429, 1)] * 5 + ["hang"] * 2 + [503] * 5)
    async with aiohttp.ClientSession() as http:
        server = ServeProcess(pg, platform.url, tmp_path / "serve.log")
        await server.start(http)
        traffic = Traffic(http, lambda: server.url)
        await asyncio.gather(*(traffic.converse(p, rng) for p in people))
        outcome = await wait_drained(pg, seconds=180)
        server.kill(signal.SIGTERM)
    await platform.stop()
    counts = assert_exactly_once(outcome, traffic.acked, people, platform)
    # In order per conversation: each person's replies arrive as the conversation went.
    for person in people:
        texts = [
            d.body["text"]
            for d in platform.deliveries
            if d.body.get("conversation_id") == f"dm-{person}"
        ]
        first = [t for t in texts if "を始めます" in t]
        assert texts.index(first[0]) == 0 and "受付番号は" in texts[-1], texts
    print(f"outage: requests={platform.requests} {counts}")


async def test_three_processes_share_the_work_once(pg: str, tmp_path: Path) -> None:
    rng = random.Random(3)
    people = [f"M{i:02d}" for i in range(24)]
    platform = await FakeRelayPlatform().start()
    async with aiohttp.ClientSession() as http:
        servers = [ServeProcess(pg, platform.url, tmp_path / f"serve{i}.log") for i in range(3)]
        for server in servers:
            await server.start(http)
        turn = iter(range(10**9))
        traffic = Traffic(http, lambda: servers[next(turn) % 3].url)  # a load balancer
        await asyncio.gather(*(traffic.converse(p, rng, repeat=0.05) for p in people))
        outcome = await wait_drained(pg)
        for server in servers:
            assert server.kill(signal.SIGTERM) == 0
    await platform.stop()
    counts = assert_exactly_once(outcome, traffic.acked, people, platform)
    assert counts["repeated_deliveries"] == 0
    print(f"three processes: {counts}")


async def test_database_outage_answers_503_and_recovers(
    pg: str, tmp_path: Path, proxy: CuttableProxy
) -> None:
    rng = random.Random(13)
    people = [f"H{i:02d}" for i in range(12)]
    platform = await FakeRelayPlatform().start()
    async with aiohttp.ClientSession() as http:
        server = ServeProcess(proxy.url_for(pg), platform.url, tmp_path / "serve.log")
        await server.start(http)
        traffic = Traffic(http, lambda: server.url)
        talking = asyncio.gather(*(traffic.converse(p, rng, pause=0.6) for p in people))
        await asyncio.sleep(1.0)
        await proxy.cut()  # the database is gone: acks must stop, not lie
        await asyncio.sleep(0.5)  # requests stored just before the cut may still answer
        acked_before = len(traffic.acked)
        await asyncio.sleep(2.0)
        assert len(traffic.acked) == acked_before, "acknowledged while the database was gone"
        assert traffic.unavailable > 0, "webhooks were acknowledged with no database"
        async with http.get(f"{server.url}/healthz") as health:
            assert health.status == 503
        await proxy.start()
        # Backends dropped mid-transaction too (as a failover would).
        await asyncio.sleep(0.5)
        await _terminate_backends(pg)
        await talking
        outcome = await wait_drained(pg)
        assert server.alive
        server.kill(signal.SIGTERM)
    await proxy.cut()
    await platform.stop()
    counts = assert_exactly_once(outcome, traffic.acked, people, platform)
    print(f"database outage: 503s={traffic.unavailable} {counts}")


async def test_connections_dropped_silently_cost_seconds_not_minutes(
    pg: str, tmp_path: Path, proxy: CuttableProxy
) -> None:
    """A firewall forgets every connection to the database at once (no FIN, no RST: packets
    just vanish), then lets new ones through. Without a bound each statement in flight would
    wait for TCP to give up, for minutes; with ``command_timeout_seconds`` the process answers
    503 meanwhile, reconnects once it can, and finishes every conversation exactly once."""
    rng = random.Random(17)
    people = [f"F{i:02d}" for i in range(12)]
    platform = await FakeRelayPlatform().start()
    async with aiohttp.ClientSession() as http:
        server = ServeProcess(
            proxy.url_for(pg),
            platform.url,
            tmp_path / "serve.log",
            DXBOT_DATABASE_COMMAND_TIMEOUT_SECONDS="1",
        )
        await server.start(http)
        traffic = Traffic(http, lambda: server.url)
        talking = asyncio.gather(*(traffic.converse(p, rng, pause=0.6) for p in people))
        await asyncio.sleep(1.5)
        proxy.freeze()
        await asyncio.sleep(3.0)
        async with http.get(
            f"{server.url}/healthz", timeout=aiohttp.ClientTimeout(total=10)
        ) as health:
            assert health.status == 503  # said in seconds, while the connections are gone
        unavailable = traffic.unavailable
        proxy.thaw()
        await asyncio.wait_for(talking, 120)
        outcome = await wait_drained(pg, seconds=60)
        assert server.alive
        assert server.kill(signal.SIGTERM) == 0
    await proxy.cut()
    await platform.stop()
    counts = assert_exactly_once(outcome, traffic.acked, people, platform)
    print(f"dropped connections: 503s during={unavailable} refused={traffic.refused} {counts}")


async def _terminate_backends(url: str) -> None:
    import asyncpg

    database = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
