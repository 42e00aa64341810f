"""What the session middleware costs, against the same work written by hand.

Part 1, over ``MemoryStorage``: µs per update through ``session()`` (with
``isolation="process"``, the in-process lock, and with the store's lease, the default
over a ``LockStorage``) next to a loop that
does what the middleware does, by hand (get, copy through JSON, mutate, compare, set a
fresh copy), for a session that changes and one that does not; and next to a lower floor
that skips the final copy (the one the middleware makes so that a handler's leaked
references cannot reach the store). Rounds are interleaved and the best round of each
counts, so every side sees the same machine state. Target: within 1.3x.

Part 2, over a real Redis: round trips per update, counted by the server itself
(``INFO commandstats`` after ``CONFIG RESETSTAT``), with the µs per update for scale.
Expected: 1 when unchanged (``GETEX ... PX``), 2 when changed (``GETEX`` + ``SET``).
The server is one started by ``tools/redis_harness.py``, or ``--redis-url``.

    hatch run python packages/session/benchmarks/bench_session.py
    hatch run python packages/session/benchmarks/bench_session.py --redis-url redis://...
    hatch run python packages/session/benchmarks/bench_session.py --no-redis

Nothing here asserts a time; it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from puregram.session import session
from puregram.storage import MemoryStorage, encode_value

USERS = 1_000


def record(user: int) -> dict[str, Any]:
    """A realistic small session: a counter, a profile, a list, a state name."""
    return {
        "counter": 0,
        "user": {"id": user, "name": "ann", "lang": "en", "premium": False},
        "cart": ["tea", "milk"],
        "step": "menu",
    }


class Update:
    __slots__ = ("sender_id", "session")

    def __init__(self, sender_id: int) -> None:
        self.sender_id = sender_id
        self.session: Any = None


# -- the two sides --------------------------------------------------------------------------


async def through_middleware(mw: Any, updates: int, change: bool) -> None:
    for i in range(updates):
        context = Update(i % USERS)

        async def handler(context: Any = context) -> None:
            if change:
                context.session.counter += 1
            else:
                _ = context.session.counter

        await mw(context, handler)


async def handle(data: dict[str, Any], change: bool) -> None:
    """The handler of the by-hand loops: a bot calls its handler either way."""
    if change:
        data["counter"] += 1
    else:
        _ = data["counter"]


async def by_hand(store: MemoryStorage[Any], updates: int, change: bool) -> None:
    """The floor: what the middleware does, minus everything a framework adds.

    It stores a fresh copy, as the middleware does (``MemoryStorage`` keeps values by
    reference, and a handler may keep references to the session it was given).
    """
    for i in range(updates):
        key = str(i % USERS)
        raw = await store.get(key)
        before = encode_value(key, raw)
        data = json.loads(before)  # a copy the handler may mutate
        await handle(data, change)
        after = encode_value(key, data)
        if after != before:
            await store.set(key, json.loads(after))


async def by_hand_minimal(store: MemoryStorage[Any], updates: int, change: bool) -> None:
    """A lower floor: the same, but it stores its working dict instead of a copy."""
    for i in range(updates):
        key = str(i % USERS)
        raw = await store.get(key)
        before = encode_value(key, raw)
        data = json.loads(before)
        await handle(data, change)
        if encode_value(key, data) != before:
            await store.set(key, data)


def best_us(rounds: list[float], updates: int) -> float:
    return min(rounds) / updates * 1e6


async def measure_memory(updates: int, rounds: int) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for change in (True, False):
        stores = [MemoryStorage({str(u): record(u) for u in range(USERS)}) for _ in range(4)]
        process = session(storage=stores[0], isolation="process")
        leased = session(storage=stores[3], isolation="store")
        sides: list[tuple[list[float], Callable[[], Awaitable[None]]]] = [
            ([], partial(through_middleware, process, updates, change)),
            ([], partial(by_hand, stores[1], updates, change)),
            ([], partial(by_hand_minimal, stores[2], updates, change)),
            ([], partial(through_middleware, leased, updates, change)),
        ]
        for _ in range(rounds):
            for times, run in sides:
                start = time.perf_counter()
                await run()
                times.append(time.perf_counter() - start)
        label = "changed (counter += 1)" if change else "unchanged (read only)"
        mw_us, hand_us, minimal_us, lease_us = (best_us(times, updates) for times, _ in sides)
        rows.append((label, mw_us, hand_us, minimal_us, lease_us))
    return rows


# -- Redis ----------------------------------------------------------------------------------


async def measure_redis(url: str, updates: int) -> list[tuple[str, str, float, float]]:
    from redis.asyncio import Redis

    from puregram.storage_redis import RedisStorage

    client = Redis.from_url(url)
    rows = []
    try:
        prefix = f"bench-session-{time.time_ns()}:"
        cases = [
            ("unchanged, ttl_ms=60000", 60_000, False),
            ("changed, ttl_ms=60000", 60_000, True),
            ("unchanged, no ttl", None, False),
            ("changed, no ttl", None, True),
        ]
        for label, ttl_ms, change in cases:
            store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix, ttl_ms=ttl_ms)
            for u in range(USERS):
                await store.set(str(u), record(u))
            # The Redis lease lands later: this part counts the lease-free path.
            mw = session(storage=store, isolation="process")
            await client.ping()  # the connection is made and its handshake counted before the reset
            await client.config_resetstat()
            start = time.perf_counter()
            await through_middleware(mw, updates, change)
            elapsed = time.perf_counter() - start
            stats = await client.info("commandstats")
            counted = {
                name.removeprefix("cmdstat_").upper(): int(entry["calls"])
                for name, entry in stats.items()
                if name not in ("cmdstat_info", "cmdstat_config", "cmdstat_ping")
            }
            per_update = sum(counted.values()) / updates
            commands = " + ".join(
                f"{name} {calls / updates:g}" for name, calls in sorted(counted.items())
            )
            rows.append((label, commands, per_update, elapsed / updates * 1e6))
        async for key in client.scan_iter(match=prefix + "*"):
            await client.delete(key)
    finally:
        await client.aclose()
    return rows


def start_redis() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
    from tools.redis_harness import HARNESS

    return HARNESS.server().url


# -- main -----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    print(f"Python {sys.version.split()[0]}, {args.backend}, best of {args.rounds} rounds\n")
    print(f"MemoryStorage, {args.updates} updates per round over {USERS} users:\n")
    print(
        "| update | middleware, process µs | by hand µs | ratio | by hand, no final copy µs "
        "| ratio | middleware, store lease µs | ratio to by hand |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, mw_us, hand_us, minimal_us, lease_us in await measure_memory(
        args.updates, args.rounds
    ):
        print(
            f"| {label} | {mw_us:.2f} | {hand_us:.2f} | {mw_us / hand_us:.2f}x "
            f"| {minimal_us:.2f} | {mw_us / minimal_us:.2f}x "
            f"| {lease_us:.2f} | {lease_us / hand_us:.2f}x |"
        )
    if args.no_redis:
        return
    url = args.redis_url or start_redis()
    source = "--redis-url" if args.redis_url else "started by tools/redis_harness.py"
    print(f"\nRedis ({source}), {args.redis_updates} updates over RedisStorage,")
    print("commands counted by the server (INFO commandstats):\n")
    print("| update | commands per update | round trips per update | µs per update |")
    print("| --- | --- | ---: | ---: |")
    for label, commands, per_update, us in await measure_redis(url, args.redis_updates):
        print(f"| {label} | {commands} | {per_update:g} | {us:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=20_000, help="updates per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--redis-url", help="use this server instead of starting one")
    parser.add_argument("--redis-updates", type=int, default=2_000)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis part")
    arguments = parser.parse_args()
    anyio.run(main, arguments, backend=arguments.backend)
