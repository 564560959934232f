"""Engine set-up that the claims' speed depends on."""

from __future__ import annotations

from sqlalchemy import text

from storage.engine import create_engine


async def test_postgresql_plans_each_statement_for_the_tables_real_size(
    postgres_url: str,
) -> None:
    """A generic plan cached while the outbox was empty stalled sending once thousands of
    messages waited (a nested loop over every row per claim): every statement is planned
    with its own values instead."""
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            mode = await conn.scalar(text("SHOW plan_cache_mode"))
    finally:
        await engine.dispose()
    assert mode == "force_custom_plan"


async def test_sqlite_has_one_connection_so_writers_queue_in_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    try:
        async with engine.connect() as conn:
            journal = await conn.scalar(text("PRAGMA journal_mode"))
        assert engine.pool.size() == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
    assert journal == "wal"
