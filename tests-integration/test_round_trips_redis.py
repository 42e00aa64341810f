"""Round trips per session update over a real Redis server, from both ends: the commands
the client sent (a counting wrapper around the client's own ``execute_command``, which
forwards every call to the server) and what ``INFO commandstats`` saw the server run.

With leases (the default over ``RedisStorage``): lock+read fused, then write+release or
release+touch fused: 2 round trips whether the session changed or not. With
``isolation="process"``: unchanged 1 (``GETEX``), changed 2 (``GETEX`` + ``SET``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from _integration import Update
from redis.asyncio import Redis

from puregram.session import session
from puregram.storage_redis import RedisStorage
from tools.redis_harness import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py


class Counted:
    """The client-side count: every command the store sends goes through here."""

    def __init__(self, client: Redis) -> None:
        self.names: list[str] = []
        self._run: Callable[..., Awaitable[Any]] = client.execute_command
        client.execute_command = self._counting  # type: ignore[method-assign]

    async def _counting(self, *args: Any, **options: Any) -> Any:
        self.names.append(str(args[0]).upper())
        return await self._run(*args, **options)


@pytest.fixture
async def server_client(
    redis_server_factory: Callable[[], RedisServer],
) -> AsyncIterator[Redis]:
    server = redis_server_factory()  # its own server: CONFIG RESETSTAT touches no one else
    client = Redis.from_url(server.url)
    yield client
    await client.aclose()


async def _update(middleware: Any, change: bool) -> None:
    context = Update(1)

    async def handler() -> None:
        if change:
            context.session.counter = int(context.session.get("counter", 0)) + 1
        else:
            assert context.session.get("counter") is not None

    await middleware(context, handler)


async def _server_calls(client: Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name not in ("cmdstat_config", "cmdstat_info")
    }


@pytest.mark.parametrize(
    ("isolation", "change", "client_sent", "server_ran"),
    [
        (None, True, ["EVALSHA", "EVALSHA"], {"evalsha": 2}),
        (None, False, ["EVALSHA", "EVALSHA"], {"evalsha": 2}),
        ("process", True, ["GETEX", "SET"], {"getex": 1, "set": 1}),
        ("process", False, ["GETEX"], {"getex": 1}),
    ],
    ids=["lease-changed", "lease-unchanged", "process-changed", "process-unchanged"],
)
async def test_round_trips_per_update(
    server_client: Redis,
    isolation: Any,
    change: bool,
    client_sent: list[str],
    server_ran: dict[str, int],
) -> None:
    counted = Counted(server_client)  # before the store binds execute_command
    storage: RedisStorage[Any] = RedisStorage(client=server_client, prefix="rt:", ttl_ms=60_000)
    middleware = session(storage=storage, isolation=isolation)
    # The first updates create the record and load the scripts into the server's cache
    # (a script's first use is EVALSHA, NOSCRIPT, then EVAL: once per server).
    await _update(middleware, True)
    await _update(middleware, False)
    await server_client.config_resetstat()
    counted.names.clear()
    await _update(middleware, change)
    assert counted.names == client_sent
    ran = await _server_calls(server_client)
    # Commands a script runs are counted by the server too; the round trips are the
    # client-level ones, so drop what the scripts ran inside.
    client_level = {name: calls for name, calls in ran.items() if name.upper() in client_sent}
    assert client_level == server_ran
