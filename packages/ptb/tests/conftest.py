"""Fixtures of the PTB tests: PTB is asyncio-only, so every async test runs on asyncio."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# --import-mode=importlib puts no folder on sys.path; ptb_fakes is imported by name.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# The Redis server fixture, for when this package is tested from its own folder (the root
# conftest registers the whole harness as a plugin).
from tools.redis_harness import redis_url  # noqa: E402, F401


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
