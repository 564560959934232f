"""Fault tests need PostgreSQL (several processes) and real ``dxbot serve`` processes."""

from __future__ import annotations

import pytest

from tests.conftest import truncate_all


@pytest.fixture
async def pg(postgres_url: str) -> str:
    await truncate_all(postgres_url)
    return postgres_url
