"""``keys(prefix=)``, ``values(prefix=)``, ``entries(prefix=)``: one namespace of a store,
listed natively with ``SCAN MATCH`` (what ``puregram.storage.namespaced`` builds on)."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster

from puregram.storage_redis import RedisStorage

pytestmark = pytest.mark.anyio

# Glob characters in the namespace and in the keys: unescaped, "ns[1]*?\\:" would match
# "ns1..." and "ns]..." names too.
NAMESPACE = "ns[1]*?\\:"
INSIDE = {
    f"{NAMESPACE}{tail}{index}": index for tail in ("k", "*", "[a]", "?\\") for index in range(8)
}
OUTSIDE = [
    "ns1X:k0",  # what the unescaped pattern's [1] matches
    "ns[1]X?\\:k0",  # what its * matches
    "ns[1]*!\\:k0",  # what its ? matches
    "ns[1]*?:k0",  # the namespace without its backslash
    "ns[1]*?\\",  # the namespace cut short
    "other:" + NAMESPACE + "k0",  # the namespace inside a key
]


async def _fill(store: RedisStorage[Any]) -> None:
    for key, value in INSIDE.items():
        await store.set(key, value)
    for index, key in enumerate(OUTSIDE):
        await store.set(key, -index - 1)
    for index in range(700):  # more than one SCAN batch of other keys
        await store.set(f"bulk:{index}", index)


async def test_a_namespace_lists_only_its_keys(
    any_client: Redis | RedisCluster, prefix: str
) -> None:
    store: RedisStorage[int] = RedisStorage(client=any_client, prefix=prefix + "[store]*:")
    await _fill(store)
    # A second store whose prefix the namespace's escaping must not confuse.
    neighbour: RedisStorage[int] = RedisStorage(client=any_client, prefix=prefix + "[store]X:")
    await neighbour.set(NAMESPACE + "k0", 999)

    assert sorted([key async for key in store.keys(prefix=NAMESPACE)]) == sorted(INSIDE)
    assert {key: value async for key, value in store.entries(prefix=NAMESPACE)} == INSIDE
    assert sorted([value async for value in store.values(prefix=NAMESPACE)]) == sorted(
        INSIDE.values()
    )
    # A narrower prefix narrows; the empty one lists everything; keys keep the prefix.
    assert sorted([key async for key in store.keys(prefix=NAMESPACE + "[a]")]) == sorted(
        f"{NAMESPACE}[a]{index}" for index in range(8)
    )
    everything = {key async for key in store.keys(prefix="")}
    assert everything == {key async for key in store.keys()}
    assert len(everything) == len(INSIDE) + len(OUTSIDE) + 700
    assert [key async for key in store.keys(prefix="absent:")] == []
    assert [key async for key in neighbour.keys(prefix=NAMESPACE)] == [NAMESPACE + "k0"]


class RecordingClient:
    """A real client that records the commands it is asked to send (a spy, not a fake:
    every command still goes to the server)."""

    def __init__(self, client: Redis) -> None:
        self.client: Any = client
        self.sent: list[tuple[Any, ...]] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(args)
        return await self.client.execute_command(*args, **options)


async def test_the_namespace_is_matched_by_the_server(client: Redis, prefix: str) -> None:
    """The filter is SCAN's MATCH on the escaped store prefix plus namespace, not a walk
    over every key of the store filtered here."""
    spy = RecordingClient(client)
    store: RedisStorage[int] = RedisStorage(client=spy, prefix=prefix)  # type: ignore[arg-type]
    await _fill(store)
    spy.sent.clear()
    assert len([key async for key in store.keys(prefix=NAMESPACE)]) == len(INSIDE)
    patterns = {args[3] for args in spy.sent if args[0] == "SCAN"}
    assert patterns == {prefix + "ns\\[1\\]\\*\\?\\\\:*"}
    spy.sent.clear()
    assert len([entry async for entry in store.entries(prefix=NAMESPACE)]) == len(INSIDE)
    mgets = [args for args in spy.sent if args[0] == "MGET"]
    assert sum(len(args) - 1 for args in mgets) == len(INSIDE), "only the namespace is read"


@pytest.mark.parametrize("method", ["keys", "values", "entries"])
@pytest.mark.parametrize("bad", [None, 1, b"ns:", ["ns:"]])
async def test_a_prefix_that_is_not_a_str_is_a_type_error(
    client: Redis, prefix: str, method: str, bad: object, commands_sent: Any
) -> None:
    store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)

    async def call() -> None:
        with pytest.raises(
            TypeError, match=rf"RedisStorage\.{method} option 'prefix' must be a str"
        ):
            getattr(store, method)(prefix=bad)  # raised by the call, before any iteration

    assert await commands_sent(client, call) == {}


async def test_a_prefix_with_a_lone_surrogate_is_a_value_error(client: Redis, prefix: str) -> None:
    store: RedisStorage[int] = RedisStorage(client=client, prefix=prefix)
    with pytest.raises(ValueError, match="'prefix' holds a lone surrogate"):
        store.keys(prefix="ns\ud800")
