"""Repository-wide pytest setup: every async test runs on asyncio and on trio.

A package whose code needs asyncio (redis-py) overrides ``anyio_backend`` in its own
``tests/conftest.py``. The Redis harness is a plugin: servers start only when a test
asks for one of its fixtures.
"""

import pytest

pytest_plugins = ["tools.redis_harness", "tools.postgres_harness"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
