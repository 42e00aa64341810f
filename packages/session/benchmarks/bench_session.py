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

Part 3, a 1 MB session (9,000 profile entries) over ``MemoryStorage``: CPU ms per update
(``time.process_time``, best of interleaved rounds) next to one ``json.loads`` plus one
``json.dumps`` of the same session, measured in the same rounds; and the MB the session's
own JSON encoder and decoder went through per update (counted by wrapping them). Targets:
unchanged <= 1.3x, one key changed <= 1.6x. Then ``len()`` and ``popitem()`` of a
``Session`` with 1k, 8k and 64k ttl'd keys, in µs per call: flat means O(1).

    hatch run python packages/session/benchmarks/bench_session.py
    hatch run python packages/session/benchmarks/bench_session.py --redis-url redis://...
    hatch run python packages/session/benchmarks/bench_session.py --no-redis
    hatch run python packages/session/benchmarks/bench_session.py --quick --no-redis

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

from puregram.session import Session, _middleware, _session, session, ttl
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


async def through_middleware(mw: Any, updates: int, change: bool | None) -> None:
    """``change=None``: a handler that never touches the session (``lazy=True``)."""
    for i in range(updates):
        context = Update(i % USERS)

        async def handler(context: Any = context) -> None:
            if change is None:
                return
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


# -- a 1 MB session -----------------------------------------------------------------------


def large_record() -> dict[str, Any]:
    """About 1 MB of JSON: 9,000 profile entries, and a counter."""
    record: dict[str, Any] = {
        f"user{i}": {
            "id": i,
            "name": f"user {i}",
            "tags": ["a", "b", "c"],
            "score": i * 1.5,
            "premium": i % 2 == 0,
            "history": {"seen": [1, 2, {"last": "menu"}]},
        }
        for i in range(9_000)
    }
    record["counter"] = 0
    return record


def _read_one(s: Any) -> None:
    _ = s["user7"]["name"]


def _change_counter(s: Any) -> None:
    s.counter += 1


def _change_one_profile(s: Any) -> None:
    s["user7"]["tags"].append("d")


def _read_all_change_one(s: Any) -> None:
    for value in s.values():
        _ = value
    s.counter += 1


def _append_to_the_big_list(s: Any) -> None:
    s["log"].append({"id": -1})


LARGE_CASES = [
    ("unchanged (reads one key)", _read_one, 1.3),
    ("one key changed (counter += 1)", _change_counter, 1.6),
    ("one key changed (user7.tags.append)", _change_one_profile, 1.6),
    ("reads every key, changes one", _read_all_change_one, None),
    ("1 MB in one key (a list): append to it", _append_to_the_big_list, None),
]


class Counted:
    """Wraps an encoder or a decoder of the session and adds up the text it handled."""

    def __init__(self, inner: Callable[..., Any], decode: bool) -> None:
        self.inner, self.decode, self.chars = inner, decode, 0

    def __call__(self, arg: Any, *rest: Any) -> Any:
        result = self.inner(arg, *rest)
        text = arg if self.decode else (result if isinstance(result, str) else "")
        self.chars += len(text)
        return result


async def measure_large(rounds: int) -> list[tuple[str, float, float, float, float, float | None]]:
    base = large_record()
    text = json.dumps(base)

    def floor() -> None:
        json.dumps(json.loads(text))

    rows = []
    one_key = json.dumps({"log": list(base.values())[:-1], "counter": 0})
    for label, change, target in LARGE_CASES:
        source = one_key if change is _append_to_the_big_list else text
        store: MemoryStorage[Any] = MemoryStorage({"1": json.loads(source)})
        mw = session(storage=store, isolation="process")

        async def update(change: Callable[[Any], None] = change, mw: Any = mw) -> None:
            context = Update(1)

            async def handler() -> None:
                change(context.session)

            await mw(context, handler)

        floor_times: list[float] = []
        mw_times: list[float] = []
        for _ in range(rounds):
            start = time.process_time()
            floor()
            floor_times.append(time.process_time() - start)
            start = time.process_time()
            await update()
            mw_times.append(time.process_time() - start)
        # The same update once more, with the encoders and decoders counted.
        patched = [
            (_session, "_text", False),
            (_session, "_scan", True),
            (_middleware, "_text", False),
            (_middleware, "_scan", True),
        ]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patched]
        counters = []
        for module, name, decode in patched:
            counter = Counted(getattr(module, name), decode)
            counters.append(counter)
            setattr(module, name, counter)
        real_encode_value = encode_value
        encoded = Counted(real_encode_value, False)
        setattr(_middleware, "encode_value", encoded)  # noqa: B010
        try:
            await update()
        finally:
            for module, name, value in saved:
                setattr(module, name, value)
            setattr(_middleware, "encode_value", real_encode_value)  # noqa: B010
        enc_mb = (counters[0].chars + counters[2].chars + encoded.chars) / 1e6
        dec_mb = (counters[1].chars + counters[3].chars) / 1e6
        floor_ms, mw_ms = min(floor_times) * 1e3, min(mw_times) * 1e3
        rows.append((label, mw_ms, floor_ms, enc_mb, dec_mb, target))
    return rows


def measure_ttl_keys(sizes: tuple[int, ...]) -> list[tuple[int, float, float]]:
    rows = []
    for n in sizes:
        s = Session({}, {}, lambda: 0)
        for i in range(n):
            s[f"k{i}"] = ttl(i, 10**9)
        calls = 1_000
        start = time.perf_counter()
        for _ in range(calls):
            len(s)
        len_us = (time.perf_counter() - start) / calls * 1e6
        start = time.perf_counter()
        while s:
            s.popitem()
        pop_us = (time.perf_counter() - start) / n * 1e6
        rows.append((n, len_us, pop_us))
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
            ("lazy=True, the handler never awaits it", 60_000, None),
        ]
        for label, ttl_ms, change in cases:
            store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix, ttl_ms=ttl_ms)
            for u in range(USERS):
                await store.set(str(u), record(u))
            # The Redis lease lands later: this part counts the lease-free path.
            mw = session(storage=store, isolation="process", lazy=change is None)
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
    large_rounds = 5 if args.quick else 15
    print(
        f"\nA 1 MB session over MemoryStorage, CPU ms per update, best of {large_rounds} "
        "interleaved rounds:\n"
    )
    print(
        "| update | middleware ms | json.loads + json.dumps ms | ratio | target "
        "| MB encoded | MB decoded |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, mw_ms, floor_ms, enc_mb, dec_mb, target in await measure_large(large_rounds):
        shown = f"<= {target}x" if target else "-"
        print(
            f"| {label} | {mw_ms:.1f} | {floor_ms:.1f} | {mw_ms / floor_ms:.2f}x | {shown} "
            f"| {enc_mb:.2f} | {dec_mb:.2f} |"
        )
    print("\nA Session with n ttl'd keys (none due), µs per call:\n")
    print("| ttl keys | len() µs | popitem() µs |")
    print("| ---: | ---: | ---: |")
    for n, len_us, pop_us in measure_ttl_keys((1_000, 8_000, 64_000)):
        print(f"| {n:,} | {len_us:.2f} | {pop_us:.2f} |")
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
    parser.add_argument("--quick", action="store_true", help="fewer updates and rounds")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.updates, arguments.rounds = 5_000, 5
    anyio.run(main, arguments, backend=arguments.backend)
