"""The partial indexes the models declare (``storage.models.partial_index``) are what the
migrations create: same columns, and a ``WHERE`` on the same values, on both databases.

The models keep each predicate in ``Index.info`` (declaring it per dialect would load both
dialects into every process), so nothing but this test ties the two together.
"""

from __future__ import annotations

import re

from sqlalchemy import Index, text
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.digest_queries  # noqa: F401 - declares the digest indexes on their tables
from storage.models import Base

_DEFINITION = {
    "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name",
    "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = :name",
}


def _partial_indexes() -> list[Index]:
    return [
        index
        for table in Base.metadata.sorted_tables
        for index in sorted(table.indexes, key=lambda i: str(i.name))
        if "where" in index.info
    ]


def _quoted_values(sql: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", sql))


def _columns_named(sql: str, index: Index) -> set[str]:
    """The index's table columns that ``sql`` names outside its quoted values."""
    bare = re.sub(r"'[^']*'", "", sql)
    return {c.name for c in index.table.columns if re.search(rf"\b{c.name}\b", bare)}


def test_the_models_declare_the_live_row_and_digest_indexes_as_partial() -> None:
    names = {index.name for index in _partial_indexes()}
    assert names == {
        "ix_inbox_live",
        "ix_outbox_live",
        "ix_issue_events_status_at",
        "ix_issue_events_milestones",
    }


async def test_the_migrations_create_each_partial_index_with_its_predicate(
    engine: AsyncEngine,
) -> None:
    dialect = engine.dialect
    async with engine.connect() as conn:
        for index in _partial_indexes():
            found = await conn.scalar(text(_DEFINITION[dialect.name]), {"name": index.name})
            assert found, f"{index.name} is not in the migrated {dialect.name} schema"
            columns, _, predicate = found.partition(" WHERE ")
            assert predicate, f"{index.name} is not partial: {found}"
            declared = index.info["where"].compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
            assert _quoted_values(str(declared)) == _quoted_values(predicate), index.name
            assert _columns_named(str(declared), index) == _columns_named(predicate, index)
            listed = re.findall(r"\w+", columns.rpartition("(")[2])
            assert listed == [column.name for column in index.columns], index.name
