"""Streaming a prefix's keys with ``SCAN`` and fetching their values with ``MGET``.

Memory holds one batch at a time (``SCAN_COUNT`` keys and their values) plus the set of
keys already yielded, capped at ``DEDUPE_LIMIT``; it never grows with the keyspace.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["DEDUPE_LIMIT", "SCAN_COUNT", "Once", "escape_glob", "fetch_values", "scan_batches"]

SCAN_COUNT = 500
"""``COUNT`` hint of every ``SCAN``, and so the size of every ``MGET``."""

DEDUPE_LIMIT = 10_000
"""How many keys one iteration remembers to drop the duplicates ``SCAN`` may return."""

_GLOB = re.compile(r"([*?\[\]\\])")

Run = Callable[..., Awaitable[Any]]


def escape_glob(text: str) -> str:
    """``text`` with the glob characters ``* ? [ ] \\`` escaped for ``SCAN MATCH``."""
    return _GLOB.sub(r"\\\1", text)


async def scan_batches(client: Any, run: Run, pattern: str) -> AsyncIterator[list[Any]]:
    """Yield the non-empty ``SCAN`` replies for ``pattern``: on a cluster, every primary's
    keys in turn (each reply then holds keys of one node only)."""
    if callable(getattr(client, "get_primaries", None)):
        await client.initialize()  # the node table is empty until the client has connected
        for node in client.get_primaries():
            cursor: Any = 0
            while True:
                cursors, keys = await run(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, target_nodes=node
                )
                # redis-py's cluster client answers {node name: cursor}; be lenient.
                cursor = cursors[node.name] if isinstance(cursors, dict) else cursors
                if keys:
                    yield keys
                if int(cursor) == 0:
                    break
        return
    cursor = 0
    while True:
        cursor, keys = await run("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
        if keys:
            yield keys
        if int(cursor) == 0:
            break


async def fetch_values(client: Any, run: Run, keys: list[Any]) -> list[Any]:
    """The raw values of ``keys``, in order, ``None`` for a key gone since the scan.

    One ``MGET``; on a cluster one ``MGET`` per hash slot, pipelined per node (redis-py's
    ``mget_nonatomic``), so a batch can never fail with ``CROSSSLOT``.
    """
    if callable(getattr(client, "mget_nonatomic", None)) and callable(
        getattr(client, "get_primaries", None)
    ):
        return list(await client.mget_nonatomic(keys))
    return list(await run("MGET", *keys))


class Once:
    """Tells whether a key is new in this iteration.

    Remembers up to ``limit`` keys, so a key among the first ``limit`` distinct ones is
    never yielded twice; past that, a duplicate is dropped only within one batch.
    """

    __slots__ = ("_batch", "_limit", "_seen")

    def __init__(self, limit: int = DEDUPE_LIMIT) -> None:
        self._seen: set[str] = set()
        self._batch: set[str] = set()
        self._limit = limit

    def new_batch(self) -> None:
        self._batch.clear()

    def first(self, key: str) -> bool:
        if key in self._seen or key in self._batch:
            return False
        if len(self._seen) < self._limit:
            self._seen.add(key)
        else:
            self._batch.add(key)
        return True
