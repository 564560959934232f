"""Fault tests need PostgreSQL (several processes) and real ``dxbot serve`` processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import truncate_all
from tests.reliability.cluster import ServeProcess
from tests.reliability.proxy import proxy_fixture  # noqa: F401 - the ``proxy`` fixture


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    yield
    ServeProcess.stop_all()


@pytest.fixture
async def pg(postgres_url: str) -> str:
    await truncate_all(postgres_url)
    return postgres_url
