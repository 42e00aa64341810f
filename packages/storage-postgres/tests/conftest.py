"""Fixtures: a real PostgreSQL server (``postgres_url`` and ``postgres_server_factory``
from ``tools.postgres_harness``; they skip with one line when there is no server) and a
fresh table per test. asyncio only: asyncpg runs on asyncio."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tools.postgres_harness import postgres_server_factory as postgres_server_factory
from tools.postgres_harness import postgres_url as postgres_url
from tools.postgres_harness import pytest_sessionfinish as pytest_sessionfinish


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def table() -> str:
    """A table name no other test uses (tests share one server)."""
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def pool(anyio_backend: str, postgres_url: str) -> AsyncIterator[Any]:
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()
