"""Redis killed and restarted under a running bot: through the session middleware, no
acknowledged update is lost.

The server is a dedicated one with persistence on (``--appendonly yes --appendfsync
always``: Redis fsyncs the append-only file before it replies, so every write a client
saw acknowledged is on disk). ``kill()`` is SIGKILL, a crash; ``start()`` runs it again
on the same port and folder, and it reloads the file. asyncio only (redis-py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from _integration import Middleware, Update
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from puregram.session import session
from puregram.storage_redis import RedisStorage
from tools.redis_harness import HARNESS, RedisBinaryNotFound, RedisServer, skip_without_server

pytestmark = pytest.mark.anyio

USERS = range(1, 6)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def durable_server() -> Iterator[RedisServer]:
    try:
        server = HARNESS.new_server(extra_args=["--appendonly", "yes", "--appendfsync", "always"])
    except RedisBinaryNotFound as exc:
        skip_without_server(exc)
    try:
        yield server
    finally:
        HARNESS.release(server)


@pytest.fixture
async def client(anyio_backend: str, durable_server: RedisServer) -> AsyncIterator[Redis]:
    # No retries: a command that fails is reported as failed, so what the test counts
    # as acknowledged is exactly what the middleware returned from.
    redis = Redis.from_url(
        durable_server.url,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )
    yield redis
    await redis.aclose()


class Ledger:
    """Per user: updates acknowledged (the middleware returned), updates that failed
    before the handler ran (the read failed: nothing can have been written), and updates
    that failed after it (the write failed: the server may have applied it anyway)."""

    def __init__(self) -> None:
        self.acked: Counter[int] = Counter()
        self.failed_reading: Counter[int] = Counter()
        self.failed_writing: Counter[int] = Counter()

    async def update(self, middleware: Middleware, user: int) -> bool:
        context = Update(user)
        reached = False

        async def handler() -> None:
            nonlocal reached
            reached = True
            context.session.counter = context.session.get("counter", 0) + 1

        try:
            await middleware(context, handler)
        except RedisConnectionError:
            (self.failed_writing if reached else self.failed_reading)[user] += 1
            return False
        self.acked[user] += 1
        return True


async def stored_counters(client: Redis, prefix: str) -> dict[int, int]:
    store: RedisStorage[dict[str, int]] = RedisStorage(client=client, prefix=prefix)
    counters = {}
    for user in USERS:
        record = await store.get(str(user))
        counters[user] = 0 if record is None else record["counter"]
    return counters


async def test_a_restart_between_updates_loses_nothing(
    client: Redis, durable_server: RedisServer
) -> None:
    """The server dies while no update is in flight. Every update tried while it is down
    fails on its read, with redis-py's ConnectionError, before the handler runs; so no
    unacknowledged update can have written anything, and after the restart each stored
    counter EQUALS its user's acknowledged updates."""
    middleware = session(storage=RedisStorage(client=client, prefix="quiet:"))
    ledger = Ledger()
    for _ in range(5):
        for user in USERS:
            assert await ledger.update(middleware, user)
    durable_server.kill()
    for user in USERS:
        assert not await ledger.update(middleware, user)
    durable_server.start()
    for _ in range(5):
        for user in USERS:
            assert await ledger.update(middleware, user)

    assert ledger.failed_reading == Counter(USERS)
    assert not ledger.failed_writing
    assert await stored_counters(client, "quiet:") == dict.fromkeys(USERS, 10)
    assert ledger.acked == Counter(dict.fromkeys(USERS, 10))


async def test_a_crash_under_load_loses_no_acknowledged_update(
    client: Redis, durable_server: RedisServer
) -> None:
    """Five workers, one per user, update without pause while the server is SIGKILLed
    mid-stream and started again 0.3 s later; each goes on until 20 of its updates
    went through after the restart.

    Asserted per user: acknowledged <= stored <= acknowledged + failed-while-writing.
    The lower bound is the durability promise. The upper one is as tight as a client
    can know: an update whose SET reached the server just before the kill may be in the
    file although its reply never came, and the next update then counts from it. An
    update that failed on its read cannot have written anything."""
    middleware = session(storage=RedisStorage(client=client, prefix="busy:"))
    ledger = Ledger()
    restarted = anyio.Event()
    acked_after_restart = Counter[int]()

    async def worker(user: int) -> None:
        # Until 20 updates went through after the restart, however long that takes.
        while acked_after_restart[user] < 20:
            if await ledger.update(middleware, user):
                if restarted.is_set():
                    acked_after_restart[user] += 1
            else:
                await anyio.sleep(0.01)  # down: do not spin

    async def crash() -> None:
        await anyio.sleep(0.4)
        await anyio.to_thread.run_sync(durable_server.kill)
        await anyio.sleep(0.3)
        await anyio.to_thread.run_sync(durable_server.start)
        restarted.set()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(crash)
            for user in USERS:
                group.start_soon(worker, user)

    stored = await stored_counters(client, "busy:")
    print(
        f"acknowledged {dict(ledger.acked)}, stored {stored}, failed reading "
        f"{dict(ledger.failed_reading)}, failed writing {dict(ledger.failed_writing)}"
    )
    assert sum(ledger.failed_reading.values()) + sum(ledger.failed_writing.values()) > 0, (
        "the crash went unnoticed"
    )
    for user in USERS:
        assert ledger.acked[user] <= stored[user], f"user {user}: acknowledged updates lost"
        assert stored[user] <= ledger.acked[user] + ledger.failed_writing[user], (
            f"user {user}: more updates stored than were ever sent"
        )
