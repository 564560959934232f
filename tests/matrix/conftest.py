"""A real Synapse for the Matrix tests, started once per test run when the extra is installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.matrix.homeserver import Homeserver, missing_packages, new_homeserver


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """Synapse on 127.0.0.1 with dxbot registered as its application service."""
    missing = missing_packages()
    if missing:
        pytest.skip(
            f"Matrix tests need {', '.join(missing)}: pip install '.[test,matrix]' "
            "(matrix-synapse, matrix-nio)"
        )
    homeserver = new_homeserver(tmp_path_factory.mktemp("synapse"))
    homeserver.start()
    try:
        yield homeserver
    finally:
        homeserver.stop()
