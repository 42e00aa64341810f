"""Fixtures for the cross-package tests: real SQLite files, real Redis and PostgreSQL
servers (``tools/postgres_harness.py``, registered by the root conftest like the Redis
harness).

The root ``conftest.py`` runs every async test on asyncio and trio and registers the
Redis harness (``redis_url``, ``redis_cluster_url``, ``redis_server_factory``). A test
that talks to Redis runs on asyncio only (redis-py): its module overrides
``anyio_backend`` or parametrizes it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# pytest imports these modules with --import-mode=importlib, which puts no folder on
# sys.path; the shared helpers (_integration.py) are imported by name.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _integration import OpenStore, StoreCase, open_store  # noqa: E402


@pytest.fixture
def store_opener(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """``async with store_opener(kind, clock=...) as case``: a fresh store of ``kind``.

    Redis and PostgreSQL servers start only when a kind of theirs asks for one."""

    def opener(kind: str, *, clock: Callable[[], int]) -> AbstractAsyncContextManager[StoreCase]:
        return open_store(
            kind,
            folder=tmp_path,
            clock=clock,
            redis_url=lambda: str(request.getfixturevalue("redis_url")),
            cluster_url=lambda: str(request.getfixturevalue("redis_cluster_url")),
            postgres_url=lambda: str(request.getfixturevalue("postgres_url")),
        )

    return opener
