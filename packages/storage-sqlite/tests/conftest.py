"""Fixtures: every async test runs on asyncio and trio, and with each SQLite driver."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

DRIVERS = ["sqlite3", "pysqlite3.dbapi2"]


def load_driver(name: str) -> ModuleType:
    """The DB-API module ``name``; skip the test when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.skip(
            f"{name} is not installed (pysqlite3-binary has wheels for Linux x86_64 only; "
            f"pip install 'puregram-storage-sqlite[pysqlite3]')"
        )


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=DRIVERS, ids=["sqlite3", "pysqlite3"])
def driver(request: pytest.FixtureRequest) -> ModuleType:
    """The standard ``sqlite3`` module, then ``pysqlite3.dbapi2``."""
    return load_driver(str(request.param))
