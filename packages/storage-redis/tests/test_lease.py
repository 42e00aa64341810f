"""RedisStorage.lock: exclusion across instances and clients, dead holders, fencing,
lease names, iteration, and the round trips each step costs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from puregram.storage import Lease, LeaseLostError, LockStorage, is_lock_storage
from puregram.storage_redis import RedisStorage
from puregram.storage_redis._lease import LEASE_NAMESPACE, lease_name

pytestmark = pytest.mark.anyio

Factory = Callable[..., Redis | RedisCluster]


@pytest.fixture(params=["single", "cluster"])
async def two_clients(
    request: pytest.FixtureRequest, client_factory: Factory
) -> AsyncIterator[tuple[Redis | RedisCluster, Redis | RedisCluster]]:
    """Two separate clients (as two processes would have) of one server or cluster."""
    first = client_factory(request.param, max_connections=64)
    second = client_factory(f"{request.param}-decoded", max_connections=64)
    yield first, second
    await first.aclose()
    await second.aclose()


def _slot(name: str) -> int:
    return int(key_slot(name.encode()))


# --- lease names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["p:user:1", "p:{tag}rest", "{a}{b}", "x{y}z}w", "a{b", "ключ🔑", "*?[]\\", "{{x}}", "p:{"],
)
def test_a_lease_name_shares_the_data_names_slot(name: str) -> None:
    lease = lease_name(name, cluster=True, key=name)
    assert lease.startswith(LEASE_NAMESPACE)
    assert lease.endswith(name)
    assert _slot(lease) == _slot(name)


@pytest.mark.parametrize("name", ["a}b", "", "{}x}", "p:{}"])
def test_a_name_with_no_slot_twin_is_refused_on_a_cluster_only(name: str) -> None:
    with pytest.raises(ValueError, match="Cluster"):
        lease_name(name, cluster=True, key=name)
    assert lease_name(name, cluster=False, key=name) == LEASE_NAMESPACE + "}" + name


def test_lease_names_never_collide() -> None:
    names = ["a", "a}a", "{a}a", "a}", "}a", "{a}", "{a}}a", "a}}a", "", "}", "{}", "{}}"]
    leases = {lease_name(name, cluster=False, key=name) for name in names}
    assert len(leases) == len(names)


async def test_it_is_a_lock_storage(client: Redis) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client)
    assert is_lock_storage(store)
    typed: LockStorage[Any] = store  # mypy checks the protocol
    assert typed is store


@pytest.mark.parametrize("lease_ms", [0, -1, 10**15 + 1])
async def test_lease_ms_range_is_checked(client: Redis, lease_ms: int) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client)
    with pytest.raises(ValueError, match="lease_ms"):
        store.lock("k", lease_ms=lease_ms)


@pytest.mark.parametrize("lease_ms", [1.5, True, "100", None])
async def test_lease_ms_type_is_checked(client: Redis, lease_ms: Any) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client)
    with pytest.raises(TypeError, match="lease_ms"):
        store.lock("k", lease_ms=lease_ms)


async def test_a_cluster_refuses_a_key_without_a_slot_twin(client_factory: Factory) -> None:
    async with client_factory("cluster") as cluster:
        store: RedisStorage[Any] = RedisStorage(client=cluster, prefix="")
        with pytest.raises(ValueError, match="'a}b'"):
            store.lock("a}b")


# --- the basics ------------------------------------------------------------------------


async def test_lock_reads_saves_removes_and_releases(
    any_client: Redis | RedisCluster, prefix: str
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix, ttl_ms=60_000)
    lease_key = lease_name(prefix + "k", cluster=True, key="k")
    async with store.lock("k") as lease:
        assert (lease.key, lease.found, lease.value) == ("k", False, None)
        assert 0 < await any_client.pttl(lease_key) <= 30_000
        await lease.save({"n": 1})
        assert await any_client.exists(lease_key) == 0, "save ends the lease"
        with pytest.raises(RuntimeError, match="ended"):
            await lease.save({"n": 2})
    assert await store.get("k") == {"n": 1}
    assert 55_000 < await any_client.pttl(prefix + "k") <= 60_000, "save keeps the store ttl"

    await store.set("null", None)
    async with store.lock("null") as lease:
        assert (lease.found, lease.value) == (True, None)

    await any_client.pexpire(prefix + "k", 5_000)
    async with store.lock("k", lease_ms=5_000) as lease:
        assert lease.value == {"n": 1}
        await lease.release(touch=True)
        await lease.release()  # a second end is a no-op
    assert await any_client.pttl(prefix + "k") > 55_000, "release(touch=True) rolls the ttl"

    async with store.lock("k") as lease:
        await lease.remove()
    assert not await store.has("k")
    assert await any_client.exists(lease_key) == 0


async def test_leaving_the_block_releases_without_writing(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    await store.set("k", 1)
    with pytest.raises(KeyError):
        async with store.lock("k"):
            raise KeyError("boom")
    assert await store.get("k") == 1
    assert [
        name async for name in client.scan_iter(match=LEASE_NAMESPACE + "*" + prefix + "*")
    ] == []
    async with store.lock("k", lease_ms=100) as lease:  # taken at once: it was freed
        assert lease.value == 1


async def test_a_bad_value_keeps_the_lease(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    async with store.lock("k") as lease:
        with pytest.raises(TypeError, match="'k'"):
            await lease.save({1, 2})
        await lease.save([1, 2])
    assert await store.get("k") == [1, 2]


async def test_a_corrupt_value_raises_and_frees_the_key(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    await client.set(prefix + "k", b"{broken")
    with pytest.raises(ValueError, match="'k'"):
        async with store.lock("k"):
            pass
    assert await client.exists(lease_name(prefix + "k", cluster=True, key="k")) == 0
    await store.delete("k")
    async with store.lock("k") as lease:
        assert not lease.found


# --- exclusion --------------------------------------------------------------------------


async def test_two_instances_on_two_clients_lose_no_update(
    two_clients: tuple[Redis | RedisCluster, Redis | RedisCluster], prefix: str
) -> None:
    stores: list[RedisStorage[int]] = [
        RedisStorage(client=client, prefix=prefix) for client in two_clients
    ]
    tasks_per_store = 40

    async def increment(store: RedisStorage[int]) -> None:
        async with store.lock("counter", lease_ms=10_000) as lease:
            value = lease.value or 0
            await asyncio.sleep(0)  # give every other task the chance to interleave
            await lease.save(value + 1)

    await asyncio.gather(*(increment(store) for store in stores for _ in range(tasks_per_store)))
    assert await stores[0].get("counter") == 2 * tasks_per_store
    assert [key async for key in stores[1].keys()] == ["counter"]


async def test_a_waiter_does_not_busy_loop(
    client: Redis, client_factory: Factory, prefix: str, commands_sent: Any
) -> None:
    async with client_factory("single") as other:
        holder: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
        waiter: RedisStorage[int] = RedisStorage(client=other, prefix=prefix)
        async with holder.lock("k"):
            pass  # the scripts are cached from here on

        async def scenario() -> None:
            async with holder.lock("k") as lease:
                waiting = [asyncio.ensure_future(_take_and_save(waiter)) for _ in range(10)]
                await asyncio.sleep(0.4)
                await lease.save(0)
            await asyncio.gather(*waiting)

        started = time.monotonic()
        stats = await commands_sent(client, scenario)
        elapsed = time.monotonic() - started
    # A try that finds the key taken reads the lease's PTTL: one per poll. One poller for
    # the ten local waiters: about log2(50) tries to reach the 50 ms cap, then one per
    # 25-50 ms for ~0.4 s (ten pollers, or a busy loop, would make hundreds).
    polls = stats["pttl"]
    assert 3 <= polls <= 6 + int(elapsed / 0.025) + 5, stats
    assert await holder.get("k") == 10


async def _take_and_save(store: RedisStorage[int]) -> None:
    async with store.lock("k") as lease:
        await lease.save((lease.value or 0) + 1)


# --- dead holders and fencing -------------------------------------------------------------


async def test_a_dead_holder_frees_the_key_after_lease_ms(
    any_client: Redis | RedisCluster, client_factory: Factory, prefix: str
) -> None:
    dead: RedisStorage[int] = RedisStorage(client=any_client, prefix=prefix)
    abandoned = dead.lock("k", lease_ms=300)
    await abandoned.__aenter__()  # and never __aexit__: the holder "died"
    started = time.monotonic()
    async with client_factory("single" if isinstance(any_client, Redis) else "cluster") as other:
        alive: RedisStorage[int] = RedisStorage(client=other, prefix=prefix)
        async with alive.lock("k") as lease:
            waited = time.monotonic() - started
            await lease.save(1)
    assert 0.2 <= waited < 5, waited
    assert await dead.get("k") == 1


async def test_a_lease_key_set_by_hand_frees_after_its_pttl(client: Redis, prefix: str) -> None:
    store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
    await client.set(lease_name(prefix + "k", cluster=False, key="k"), "someone", px=250)
    started = time.monotonic()
    async with store.lock("k") as lease:
        waited = time.monotonic() - started
        await lease.save(1)
    assert 0.15 <= waited < 5, waited


async def test_a_stale_holder_cannot_write_after_another_took_the_key(
    two_clients: tuple[Redis | RedisCluster, Redis | RedisCluster], prefix: str
) -> None:
    first: RedisStorage[str] = RedisStorage(client=two_clients[0], prefix=prefix)
    second: RedisStorage[str] = RedisStorage(client=two_clients[1], prefix=prefix)
    await first.set("k", "before")
    async with first.lock("k", lease_ms=200) as stale:
        # second waits until the stale lease runs out: no sleep needed to get past it
        async with second.lock("k") as fresh:
            assert fresh.value == "before"
            with pytest.raises(LeaseLostError, match="'k'") as caught:
                await stale.save("stale")
            assert caught.value.key == "k"
            assert await first.get("k") == "before", "the refused save wrote nothing"
            await fresh.save("fresh")
        assert await first.get("k") == "fresh"
    assert await first.get("k") == "fresh", "leaving the stale block wrote nothing"

    async with first.lock("k", lease_ms=200) as stale:
        async with second.lock("k") as fresh:
            await fresh.save("fresh again")
        with pytest.raises(LeaseLostError):
            await stale.remove()
    assert await first.get("k") == "fresh again"

    async with first.lock("k", lease_ms=200) as stale, second.lock("k") as fresh:
        await stale.release(touch=True)  # never raises for a lost lease
        await fresh.save("third")  # and did not free the other's lease
    assert await second.get("k") == "third"


async def test_a_lease_that_ran_out_unclaimed_is_lost_too(client: Redis, prefix: str) -> None:
    store: RedisStorage[str] = RedisStorage(client=client, prefix=prefix)
    lease_key = lease_name(prefix + "k", cluster=False, key="k")
    async with store.lock("k", lease_ms=60_000) as lease:
        await client.delete(lease_key)  # as if lease_ms had passed
        with pytest.raises(LeaseLostError):
            await lease.save("late")
    assert not await store.has("k")


# --- odd keys and iteration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["*", "a?b[c]\\", "ключ🔑", "{tag}x", "{a}{b}", "}", "a}b", "{}", "", "{"]
)
async def test_odd_keys_lock_on_one_server(client: Redis, prefix: str, key: str) -> None:
    store: RedisStorage[str] = RedisStorage(client=client, prefix=prefix)
    async with store.lock(key) as lease:
        await lease.save("v")
    async with store.lock(key) as lease:
        assert lease.value == "v"
    assert [k async for k in store.keys()] == [key]


@pytest.mark.parametrize("key", ["*", "a?b[c]\\", "ключ🔑", "{tag}x", "{a}}b", "{"])
async def test_odd_keys_lock_on_a_cluster(client_factory: Factory, prefix: str, key: str) -> None:
    async with client_factory("cluster") as cluster:
        store: RedisStorage[str] = RedisStorage(client=cluster, prefix=prefix)
        async with store.lock(key) as lease:
            await lease.save("v")
        async with store.lock(key) as lease:
            assert lease.value == "v"
            await lease.remove()


@pytest.mark.parametrize("overlapping", ["", "puregram-", "puregram-lease:"])
async def test_iteration_never_shows_leases(
    any_client: Redis | RedisCluster, overlapping: str, prefix: str
) -> None:
    # A store whose prefix starts the lease namespace, beside one with a normal prefix.
    wide: RedisStorage[Any] = RedisStorage(client=any_client, prefix=overlapping)
    mine: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix)
    held: list[Lease[Any]] = []
    contexts = [mine.lock("a"), wide.lock(prefix + "wide")]
    for context in contexts:
        held.append(await context.__aenter__())
    try:
        wide_keys = [key async for key in wide.keys()]
        assert not any(key.startswith(LEASE_NAMESPACE[len(overlapping) :]) for key in wide_keys)
        assert not any(LEASE_NAMESPACE in key for key, _ in [e async for e in wide.entries()])
        assert [key async for key in mine.keys()] == []
    finally:
        for context in contexts:
            await context.__aexit__(None, None, None)


async def test_a_wide_prefix_refuses_keys_in_the_lease_namespace(client: Redis) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix="")
    for call in (
        lambda: store.set(LEASE_NAMESPACE + "x}x", 1),
        lambda: store.get(LEASE_NAMESPACE + "x}x"),
        lambda: store.count_hit(LEASE_NAMESPACE, 1_000),
    ):
        with pytest.raises(ValueError, match="lease"):
            await call()
    with pytest.raises(ValueError, match="lease"):
        RedisStorage(client=client, prefix="puregram-").lock("lease:{x}x")
    with pytest.raises(ValueError, match="prefix"):
        RedisStorage(client=client, prefix=LEASE_NAMESPACE + "mine}")
    await store.set("puregram-lease", 1)  # not the namespace itself: fine
    await store.delete("puregram-lease")


# --- round trips ------------------------------------------------------------------------------


async def test_each_lease_step_is_one_command(
    client: Redis, prefix: str, commands_sent: Any
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix, ttl_ms=60_000)
    async with store.lock("warm") as lease:  # the server caches the scripts
        await lease.save(0)
        async with store.lock("warm") as lease:
            await lease.remove()
    async with store.lock("warm"):  # and the release script, on a server that never ran it
        pass
    context = store.lock("k")
    lease = await context.__aenter__()
    holder: dict[str, Any] = {}

    async def enter() -> None:
        holder["context"] = store.lock("k2")
        holder["lease"] = await holder["context"].__aenter__()

    # Commands run inside a script are counted too (get, set, ...): the client sent one.
    assert await commands_sent(client, enter) == {"evalsha": 1, "get": 1, "set": 1}
    assert await commands_sent(client, lambda: holder["lease"].save(1)) == {
        "evalsha": 1,
        "get": 1,
        "set": 1,
        "del": 1,
    }
    assert await commands_sent(client, lambda: context.__aexit__(None, None, None)) == {
        "evalsha": 1,
        "get": 1,
        "del": 1,
    }
    del lease

    async def touch_release() -> None:
        async with store.lock("k2") as lease:
            await lease.release(touch=True)

    assert await commands_sent(client, touch_release) == {
        "evalsha": 2,
        "get": 2,
        "set": 1,
        "del": 1,
        "pexpire": 1,
    }

    async def remove() -> None:
        async with store.lock("k2") as lease:
            await lease.remove()

    assert await commands_sent(client, remove) == {"evalsha": 2, "get": 2, "set": 1, "del": 1}
    assert await commands_sent(client, lambda: holder["context"].__aexit__(None, None, None)) == {}
