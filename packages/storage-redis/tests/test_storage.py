"""RedisStorage on a real server: options, commands per call, ttls, JSON errors, counter."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis
from redis.asyncio import Redis, RedisCluster

from puregram.storage import CorruptValueError, ForeignValueError
from puregram.storage_redis import RedisStorage

KINDS = ["single", "single-decoded", "cluster", "cluster-decoded"]

pytestmark = pytest.mark.anyio


# --- options -----------------------------------------------------------------------


@pytest.mark.parametrize("ttl_ms", [0, -1, -60_000])
async def test_ttl_ms_must_be_positive(client: Redis, ttl_ms: int) -> None:
    with pytest.raises(ValueError, match="ttl_ms"):
        RedisStorage(client=client, ttl_ms=ttl_ms)


@pytest.mark.parametrize("ttl_ms", [1.5, "100", True])
async def test_ttl_ms_must_be_an_int(client: Redis, ttl_ms: Any) -> None:
    with pytest.raises(TypeError, match="ttl_ms"):
        RedisStorage(client=client, ttl_ms=ttl_ms)


async def test_prefix_must_be_str(client: Redis) -> None:
    with pytest.raises(TypeError, match="prefix"):
        RedisStorage(client=client, prefix=b"bytes:")  # type: ignore[arg-type]


def test_a_sync_client_is_rejected_at_once(redis_url: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    try:
        with pytest.raises(TypeError, match=r"redis\.asyncio"):
            RedisStorage(client=sync)  # type: ignore[arg-type]
    finally:
        sync.close()


async def test_options_are_readable(client: Redis) -> None:
    store: RedisStorage[int] = RedisStorage(client=client, prefix="bot:", ttl_ms=5_000)
    assert store.key_prefix == "bot:"
    assert store.ttl_ms == 5_000
    assert RedisStorage(client=client).key_prefix == "puregram:"
    assert RedisStorage(client=client).ttl_ms is None
    assert repr(store) == "RedisStorage(prefix='bot:', ttl_ms=5000)"


# --- stored format and commands ------------------------------------------------------


async def test_values_are_compact_json_at_prefix_plus_key(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    await store.set("user:1", {"name": "Ünï", "tags": [1, None]})
    assert await client.get(prefix + "user:1") == '{"name":"Ünï","tags":[1,null]}'.encode()
    await client.set(prefix + "written-by-node", '{"counter": 2}')
    assert await store.get("written-by-node") == {"counter": 2}


async def test_each_method_sends_exactly_one_command(
    client: Redis, prefix: str, commands_sent: Any
) -> None:
    plain: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    ttl: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix, ttl_ms=60_000)
    await plain.set("k", 1)
    assert await commands_sent(client, lambda: plain.get("k")) == {"get": 1}
    assert await commands_sent(client, lambda: plain.set("k", 2)) == {"set": 1}
    assert await commands_sent(client, lambda: ttl.set("k", 3)) == {"set": 1}
    assert await commands_sent(client, lambda: plain.has("k")) == {"exists": 1}
    assert await commands_sent(client, lambda: ttl.touch("k")) == {"pexpire": 1}
    assert await commands_sent(client, lambda: plain.touch("k")) == {}
    assert await commands_sent(client, lambda: ttl.get_and_touch("k")) == {"getex": 1}
    assert await commands_sent(client, lambda: plain.get_and_touch("k")) == {"get": 1}
    assert await commands_sent(client, lambda: plain.delete("k")) == {"del": 1}


async def test_bad_input_sends_nothing(client: Redis, prefix: str, commands_sent: Any) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix, ttl_ms=1_000)

    async def bad_calls() -> None:
        for call in (
            lambda: store.get(1),  # type: ignore[arg-type]
            lambda: store.set(b"k", 1),  # type: ignore[arg-type]
            lambda: store.set("k", {1, 2}),
            lambda: store.touch(None),  # type: ignore[arg-type]
            lambda: store.count_hit("k", 0),
            lambda: store.count_hit("k", 1.5),  # type: ignore[arg-type]
        ):
            with pytest.raises((TypeError, ValueError)):
                await call()

    assert await commands_sent(client, bad_calls) == {}


# --- ttl ---------------------------------------------------------------------------


async def test_set_with_ttl_is_one_set_px(client: Redis, prefix: str) -> None:
    store: RedisStorage[str] = RedisStorage(client=client, prefix=prefix, ttl_ms=60_000)
    await store.set("k", "v")
    assert 55_000 < await client.pttl(prefix + "k") <= 60_000
    plain: RedisStorage[str] = RedisStorage(client=client, prefix=prefix)
    await plain.set("forever", "v")
    assert await client.pttl(prefix + "forever") == -1


async def test_touch_and_get_and_touch_roll_the_ttl_forward(client: Redis, prefix: str) -> None:
    store: RedisStorage[str] = RedisStorage(client=client, prefix=prefix, ttl_ms=60_000)
    await store.set("k", "v")
    await client.pexpire(prefix + "k", 1_000)
    await store.touch("k")
    assert await client.pttl(prefix + "k") > 55_000
    await client.pexpire(prefix + "k", 1_000)
    assert await store.get_and_touch("k") == "v"
    assert await client.pttl(prefix + "k") > 55_000


async def test_without_ttl_touch_leaves_keys_persistent(client: Redis, prefix: str) -> None:
    store: RedisStorage[str] = RedisStorage(client=client, prefix=prefix)
    await store.set("k", "v")
    await store.touch("k")
    assert await store.get_and_touch("k") == "v"
    assert await client.pttl(prefix + "k") == -1


async def _wait_until_gone(store: RedisStorage[Any], key: str, *, deadline_s: float) -> float:
    """Poll until ``key`` is missing; return when (monotonic) it was first seen missing."""
    deadline = time.monotonic() + deadline_s
    while await store.has(key):
        assert time.monotonic() < deadline, f"{key!r} outlived its ttl by far"
        await anyio.sleep(0.02)
    return time.monotonic()


async def test_a_ttl_expires_and_touch_keeps_a_key_alive(client: Redis, prefix: str) -> None:
    store: RedisStorage[str] = RedisStorage(client=client, prefix=prefix, ttl_ms=300)
    set_at = time.monotonic()
    await store.set("touched", "v")
    await store.set("left", "v")
    await anyio.sleep(0.2)
    touched_at = time.monotonic()
    await store.touch("touched")
    await anyio.sleep(0.15)  # ~350 ms: past the first ttl, well inside the rolled one
    assert await store.get("touched") == "v", "touch did not roll the ttl forward"
    gone_at = await _wait_until_gone(store, "left", deadline_s=5)
    assert gone_at - set_at >= 0.29, "expired before its ttl"
    gone_at = await _wait_until_gone(store, "touched", deadline_s=5)
    assert gone_at - touched_at >= 0.29
    assert await store.get("touched") is None
    assert [key async for key in store.keys()] == []


# --- JSON errors ----------------------------------------------------------------------


async def test_unserializable_value_writes_nothing(any_client: Redis | RedisCluster) -> None:
    store: RedisStorage[Any] = RedisStorage(client=any_client, prefix="json-error:", ttl_ms=5_000)
    with pytest.raises(TypeError, match="'session:1'"):
        await store.set("session:1", {"seen": {1, 2}})
    with pytest.raises(ValueError, match="'session:1'"):
        await store.set("session:1", float("nan"))
    assert await any_client.exists("json-error:session:1") == 0


async def test_foreign_non_json_value_raises_naming_the_key(
    any_client: Redis | RedisCluster, prefix: str
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix, ttl_ms=60_000)
    await any_client.set(prefix + "broken", b"\x80not json")
    for read in (store.get, store.get_and_touch):
        with pytest.raises(CorruptValueError, match="'broken'") as caught:
            await read("broken")
        assert caught.value.key == "broken"
    with pytest.raises(CorruptValueError, match="'broken'"):
        _ = [entry async for entry in store.entries()]
    assert await any_client.exists(prefix + "broken") == 1, "a failed read changed the store"
    await any_client.set(prefix + "broken", "not json either")
    with pytest.raises(CorruptValueError, match="'broken'"):
        await store.get("broken")
    assert await store.get_and_touch("missing") is None, "the connection is still usable"


# --- count_hit ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_count_hit_is_exact_under_200_concurrent_tasks(
    kind: str, prefix: str, client_factory: Callable[..., Redis | RedisCluster]
) -> None:
    # A pool as large as the crowd, so that all 200 calls are in flight at once.
    any_client = client_factory(kind, max_connections=256)
    store: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix)
    results: list[tuple[int, int]] = []

    async def hit() -> None:
        results.append(await store.count_hit("user:7", 60_000))

    try:
        async with anyio.create_task_group() as group:
            for _ in range(200):
                group.start_soon(hit)
    finally:
        await any_client.aclose()
    assert sorted(hits for hits, _ in results) == list(range(1, 201))
    assert len({reset_at for _, reset_at in results}) == 1
    reset_at = results[0][1]
    async with client_factory(kind) as check:
        reader: RedisStorage[Any] = RedisStorage(client=check, prefix=prefix)
        assert await reader.get("user:7") == {"hits": 200, "resetAt": reset_at}
        assert 0 < await check.pttl(prefix + "user:7") <= 60_000


async def test_count_hit_starts_a_new_window_when_one_ends(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    first = await store.count_hit("k", 150)
    assert first[0] == 1
    assert await store.count_hit("k", 150) == (2, first[1])
    await _wait_until_gone(store, "k", deadline_s=5)  # the entry expires with its window
    hits, reset_at = await store.count_hit("k", 150)
    assert hits == 1
    assert reset_at > first[1]


async def test_count_hit_uses_the_server_clock(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    seconds, micros = await client.time()
    before = seconds * 1_000 + micros // 1_000
    _, reset_at = await store.count_hit("k", 10_000)
    seconds, micros = await client.time()
    after = seconds * 1_000 + micros // 1_000
    assert before + 10_000 <= reset_at <= after + 10_000


async def test_count_hit_reads_a_counter_written_with_set(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    far = 4_102_444_800_000  # 2100-01-01
    await store.set("k", {"hits": 41, "resetAt": far})
    assert await store.count_hit("k", 60_000) == (42, far)
    await store.set("ended", {"hits": 41, "resetAt": 1})
    assert (await store.count_hit("ended", 60_000))[0] == 1


@pytest.mark.parametrize(
    "foreign",
    [["not", "a", "counter"], {"hits": "1", "resetAt": 1}, {"hits": 1.5, "resetAt": 1}, None],
)
async def test_count_hit_never_overwrites_another_record(
    client: Redis, prefix: str, foreign: Any
) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    await store.set("k", foreign)
    with pytest.raises(ForeignValueError, match="'k'") as caught:
        await store.count_hit("k", 60_000)
    assert caught.value.key == "k"
    assert isinstance(caught.value, ValueError), "old callers catching ValueError still work"
    assert await store.get("k") == foreign
    assert await client.pttl(prefix + "k") == -1


@pytest.mark.parametrize(
    "raw",
    [
        '{"hits":9223372036854775808,"resetAt":4102444800000}',  # 2**63: wrapped negative
        '{"hits":1e300,"resetAt":4102444800000}',
        '{"hits":9007199254740992,"resetAt":4102444800000}',  # 2**53
        '{"hits":-1,"resetAt":4102444800000}',
        '{"hits":1,"resetAt":1e300}',
        '{"hits":1,"resetAt":-1e300}',
        '{"hits":1,"resetAt":9007199254740992}',
        '{"hits":1,"resetAt":-1}',
        '{"hits":1,"resetAt":"4102444800000"}',
        '{"hits":1,"resetAt":null}',
        '{"hits":1}',
        '"a string"',
        "42",
    ],
)
@pytest.mark.parametrize("kind", ["single", "cluster"])
async def test_count_hit_refuses_a_malformed_counter(
    kind: str, prefix: str, client_factory: Callable[..., Redis | RedisCluster], raw: str
) -> None:
    async with client_factory(kind) as any_client:
        store: RedisStorage[Any] = RedisStorage(client=any_client, prefix=prefix)
        await any_client.set(prefix + "k", raw)
        with pytest.raises(ForeignValueError, match=r"the record at key 'k' .*counter") as caught:
            await store.count_hit("k", 60_000)
        assert caught.value.key == "k"
        assert await any_client.get(prefix + "k") == raw.encode(), "the record was changed"
        assert await any_client.pttl(prefix + "k") == -1
        await any_client.delete(prefix + "k")


async def test_count_hit_accepts_the_largest_valid_counter(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    far = 4_102_444_800_000
    await store.set("k", {"hits": 2**53 - 2, "resetAt": far})
    assert await store.count_hit("k", 60_000) == (2**53 - 1, far)
    # Saturated: the count stays exact in a double (Lua, JavaScript) and is never refused.
    assert await store.count_hit("k", 60_000) == (2**53 - 1, far)
    await store.set("frac", {"hits": 1, "resetAt": far + 0.5})
    assert await store.count_hit("frac", 60_000) == (2, far)
    await store.set("zero", {"hits": 0, "resetAt": 0})
    assert (await store.count_hit("zero", 60_000))[0] == 1


async def test_count_hit_on_corrupt_value_raises_and_keeps_it(client: Redis, prefix: str) -> None:
    store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
    await client.set(prefix + "k", "{broken")
    with pytest.raises(CorruptValueError, match="'k'"):
        await store.count_hit("k", 60_000)
    assert await client.get(prefix + "k") == b"{broken"
    assert await client.pttl(prefix + "k") == -1
