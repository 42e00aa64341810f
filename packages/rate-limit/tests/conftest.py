"""Fixtures of the rate-limit tests.

Every async test runs on asyncio and trio, except the Redis ones (redis-py needs asyncio),
which override ``anyio_backend``. ``race`` starts real processes hitting one key at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

# The Redis server fixture, for when this package is tested from its own folder (the root
# conftest registers the whole harness as a plugin).
from tools.redis_harness import redis_url  # noqa: F401

Race = Callable[..., list[int]]

# This package's source, for child interpreters: the package-alone test env does not
# install the package itself (see pyproject.toml), and pytest's pythonpath is not inherited.
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _child_env() -> dict[str, str]:
    """The environment of a child interpreter, with this package's source importable."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": SRC if not path else SRC + os.pathsep + path}


TASKS = 8
HITS_PER_TASK = 100
LIMIT = 500

CHILD = f"""
import sys

import anyio

from puregram.rate_limit import rate_limit

kind, target, backend = sys.argv[1:4]


async def main() -> None:
    if kind == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        storage = SqliteStorage.open(target, busy_timeout_ms=30_000)
    else:
        import redis.asyncio

        from puregram.storage_redis import RedisStorage

        storage = RedisStorage(client=redis.asyncio.Redis.from_url(target), prefix="race:")
    limiter = rate_limit(storage=storage)
    allowed = 0

    async def task() -> None:
        nonlocal allowed
        for _ in range({HITS_PER_TASK}):
            if await limiter.hit("race:1", {LIMIT}, 60) is None:
                allowed += 1

    print("ready", flush=True)
    sys.stdin.readline()  # the go signal: both processes start hitting together
    async with anyio.create_task_group() as tg:
        for _ in range({TASKS}):
            tg.start_soon(task)
    print(allowed, flush=True)


anyio.run(main, backend=backend)
"""


def race(kind: str, target: str, *, backends: Sequence[str]) -> list[int]:
    """Start one process per backend, release them together, return each one's allowed."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, kind, target, backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )
        for backend in backends
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            if line.strip() != "ready":
                _, err = child.communicate(timeout=60)
                raise AssertionError(f"child not ready: {line!r}\n{err}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=60)
            if child.returncode != 0:
                raise AssertionError(f"child failed ({child.returncode}):\n{err}")
            results.append(int(out.strip()))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.communicate()  # reap it and close its pipes


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def race_processes() -> Race:
    """``race_processes(kind, target, backends=(...))``: see :func:`race`."""
    return race


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment variables that make this package importable in a child interpreter."""
    return _child_env()
