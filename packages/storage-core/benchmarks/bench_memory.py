"""µs per get and per set for the in-memory stores, against a raw floor in the same run.

Run from the repository root (``--rounds N``, ``--ops N``)::

    hatch run python packages/storage-core/benchmarks/bench_memory.py

Stores, each behind the same ``async def get/set`` shape:

- floor: a plain ``dict`` behind two ``async def`` methods, the least any async store
  can cost;
- ``MemoryStorage``;
- ``LruMemoryStorage(max=KEYS)``;
- ``cachetools.LRUCache(maxsize=KEYS)`` behind the same two ``async def`` methods (skipped
  when cachetools is not installed);
- two references that are not stores, to show what exact LRU order costs in CPython:
  the ``OrderedDict`` recipe with nothing else (no key check), and the same recipe that
  finds a missing key through ``KeyError`` instead of ``in`` (cheaper hits, dearer misses).

Operations: ``get`` of a present key (the LRU stores bump it), ``get`` of a missing key,
``set`` of a present key (an overwrite), and, for the LRU stores, ``set`` of a new key
when full (one eviction each). Each store is driven from one coroutine loop inside one
``asyncio.run``, many operations per round; stores are interleaved round by round so that
machine noise hits all alike, and the best (min) round counts. Nothing is asserted: the
table is for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from puregram.storage import LruMemoryStorage, MemoryStorage

KEYS = 1_000


class DictFloor:
    """The floor: a dict behind ``async def``, with nothing else."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return self._data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self._data[key] = value


class CachetoolsLru:
    """``cachetools.LRUCache`` behind the same two ``async def`` methods."""

    def __init__(self, maxsize: int) -> None:
        from cachetools import LRUCache

        self._cache: Any = LRUCache(maxsize=maxsize)

    async def get(self, key: str) -> Any:
        return self._cache.get(key)  # a hit goes through __getitem__: it bumps recency

    async def set(self, key: str, value: Any) -> None:
        self._cache[key] = value


class OrderedDictLru:
    """Reference: the least an exact O(1) LRU does in CPython, no key check."""

    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._max = maxsize

    async def get(self, key: str) -> Any:
        data = self._data
        if key in data:
            data.move_to_end(key)
            return data[key]
        return None

    async def set(self, key: str, value: Any) -> None:
        data = self._data
        if key in data:
            data.move_to_end(key)
            data[key] = value
        else:
            data[key] = value
            if len(data) > self._max:
                data.popitem(last=False)


class OrderedDictLruKeyError(OrderedDictLru):
    """Reference: the recipe again, but a miss is found by ``move_to_end`` raising."""

    async def get(self, key: str) -> Any:
        data = self._data
        try:
            data.move_to_end(key)
        except KeyError:
            return None
        return data[key]

    async def set(self, key: str, value: Any) -> None:
        data = self._data
        try:
            data.move_to_end(key)
        except KeyError:
            data[key] = value
            if len(data) > self._max:
                data.popitem(last=False)
        else:
            data[key] = value


Op = Callable[[int], Awaitable[int]]


def _ops(store: Any, keys: list[str], fresh: list[str], missing: list[str]) -> dict[str, Op]:
    """Each op runs ``n`` operations and returns how many it ran.

    ``fresh`` alternates two disjoint key sets of ``KEYS`` each: every set of it adds a key
    to a full store, so every set evicts one.
    """
    get = store.get
    set_ = store.set

    def gets(over: list[str]) -> Op:
        async def run(n: int) -> int:
            reps = n // len(over)
            for _ in range(reps):
                for key in over:
                    await get(key)
            return reps * len(over)

        return run

    def sets(over: list[str]) -> Op:
        async def run(n: int) -> int:
            reps = n // len(over)
            for _ in range(reps):
                for key in over:
                    await set_(key, 1)
            return reps * len(over)

        return run

    return {
        "get": gets(keys),
        "get miss": gets(missing),
        "set": sets(keys),
        "set+evict": sets(fresh),
    }


async def _measure(rounds: int, ops: int) -> tuple[list[str], dict[str, dict[str, float]]]:
    keys = [f"user:{i}" for i in range(KEYS)]
    fresh = [f"new:{i}" for i in range(KEYS)] + keys
    missing = [f"nobody:{i}" for i in range(KEYS)]
    stores: dict[str, Any] = {
        "dict behind async def (floor)": DictFloor(),
        "MemoryStorage": MemoryStorage(),
        "LruMemoryStorage(max=1000)": LruMemoryStorage(max=KEYS),
    }
    try:
        stores["cachetools.LRUCache behind async def"] = CachetoolsLru(KEYS)
    except ImportError:
        print("cachetools not installed: its row is skipped", file=sys.stderr)
    stores["reference: OrderedDict LRU, no key check"] = OrderedDictLru(KEYS)
    stores["reference: OrderedDict LRU, misses by KeyError"] = OrderedDictLruKeyError(KEYS)
    lru_names = {name for name in stores if "LRU" in name or "Lru" in name}
    plans: list[tuple[str, str, Op]] = []
    for name, store in stores.items():
        for key in keys:
            await store.set(key, 0)
        for op_name, op in _ops(store, keys, fresh, missing).items():
            if op_name != "set+evict" or name in lru_names:
                plans.append((name, op_name, op))
    best: dict[str, dict[str, float]] = {name: {} for name in stores}
    for _ in range(rounds):
        for name, op_name, op in plans:
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                done = await op(ops)
                elapsed = time.perf_counter_ns() - start
            finally:
                gc.enable()
            us = elapsed / done / 1_000
            best[name][op_name] = min(best[name].get(op_name, float("inf")), us)
    return list(stores), best


def _table(names: list[str], best: dict[str, dict[str, float]]) -> str:
    floor = best[names[0]]
    lines = [
        "| store | get µs | get x floor | get miss µs | set µs | set x floor | set+evict µs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        row = best[name]
        evict = f"{row['set+evict']:.3f}" if "set+evict" in row else "n/a"
        lines.append(
            f"| {name} | {row['get']:.3f} | {row['get'] / floor['get']:.2f}x "
            f"| {row['get miss']:.3f} | {row['set']:.3f} | {row['set'] / floor['set']:.2f}x "
            f"| {evict} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds; the best counts")
    parser.add_argument("--ops", type=int, default=200_000, help="operations per round")
    args = parser.parse_args()
    names, best = asyncio.run(_measure(args.rounds, max(args.ops, 2 * KEYS)))
    print(_table(names, best))
    print(
        f"\nbest of {args.rounds} rounds, {args.ops:,} ops each; "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}"
    )


if __name__ == "__main__":
    main()
