"""Streaming a prefix's keys with ``SCAN`` and fetching their values with ``MGET``.

Memory holds one batch at a time (about ``SCAN_COUNT`` keys and their values) plus a mark
for each key already yielded, capped at ``DEDUPE_LIMIT`` marks of at most ``EXACT_LENGTH``
characters or 16 bytes each: it never grows with the keyspace, nor with the key length.

A narrow ``MATCH`` (one namespace among many other keys) finds few keys per ``SCAN``: the
``COUNT`` hint then doubles, up to ``SCAN_COUNT_MAX``, so the walk takes fewer round
trips while each reply still holds about ``SCAN_COUNT`` keys. Redis keeps no index of key
prefixes: the server still visits every key once, so the walk's time grows with the
keyspace (see the README); only its round trips shrink.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from hashlib import sha256
from typing import Any

__all__ = [
    "DEDUPE_LIMIT",
    "EXACT_LENGTH",
    "SCAN_COUNT",
    "SCAN_COUNT_MAX",
    "Once",
    "escape_glob",
    "fetch_values",
    "scan_batches",
]

SCAN_COUNT = 500
"""``COUNT`` hint of the first ``SCAN``, and about the number of keys per reply, and so
per ``MGET``."""

SCAN_COUNT_MAX = 2_000
"""The largest ``COUNT`` hint. Redis visits about ``COUNT`` slots per ``SCAN`` and runs
nothing else meanwhile: over 1M keys one ``SCAN`` held the server 0.5 ms at 500, 1.4 ms
at 2,000 and 4.6 ms at 8,000 (a walk of the million took 951, 702 and 581 ms), so the
hint stops where other clients' commands still wait little. A reply holds at most about
that many keys, even where every key matches."""

DEDUPE_LIMIT = 10_000
"""How many keys one iteration remembers to drop the duplicates ``SCAN`` may return."""

EXACT_LENGTH = 32
"""A Redis name of at most this many characters (or bytes) is remembered as it is; a
longer one by a 128-bit digest."""

_GLOB = re.compile(r"([*?\[\]\\])")

Run = Callable[..., Awaitable[Any]]


def escape_glob(text: str) -> str:
    """``text`` with the glob characters ``* ? [ ] \\`` escaped for ``SCAN MATCH``."""
    return _GLOB.sub(r"\\\1", text)


async def scan_batches(client: Any, run: Run, pattern: str) -> AsyncIterator[list[Any]]:
    """Yield the keys ``SCAN`` finds for ``pattern`` in batches of at most ``SCAN_COUNT``
    (a reply split if need be, so an ``MGET`` never asks for more): on a cluster, every
    primary's keys in turn (each batch then holds keys of one node only)."""
    nodes: list[Any] = [None]  # off a cluster: the one server
    if callable(getattr(client, "get_primaries", None)):
        await client.initialize()  # the node table is empty until the client has connected
        nodes = client.get_primaries()
    for node in nodes:
        async for keys in _scan_node(run, pattern, node):
            yield keys


async def _scan_node(run: Run, pattern: str, node: Any) -> AsyncIterator[list[Any]]:
    """One node's ``SCAN`` loop (``node`` is ``None`` off a cluster), with the ``COUNT``
    hint doubled after each reply of fewer than half ``SCAN_COUNT`` keys and halved after
    one of more than twice as many (the keys' hash order is random, so what one reply
    found is what the next will find at the same ``COUNT``)."""
    options = {} if node is None else {"target_nodes": node}
    cursor: Any = 0
    count = SCAN_COUNT
    while True:
        cursors, keys = await run("SCAN", cursor, "MATCH", pattern, "COUNT", count, **options)
        # redis-py's cluster client answers {node name: cursor}; be lenient.
        cursor = cursors[node.name] if isinstance(cursors, dict) else cursors
        found = len(keys)
        if found < SCAN_COUNT // 2:
            count = min(count * 2, SCAN_COUNT_MAX)
        elif found > SCAN_COUNT * 2:
            count = max(count // 2, SCAN_COUNT)
        for start in range(0, found, SCAN_COUNT):
            yield keys[start : start + SCAN_COUNT]
        if int(cursor) == 0:
            return


async def fetch_values(
    client: Any, run: Run, keys: list[Any], gate: AbstractAsyncContextManager[None] | None = None
) -> list[Any]:
    """The raw values of ``keys``, in order, ``None`` for a key gone since the scan.

    One ``MGET`` through ``run``; on a cluster one ``MGET`` per hash slot, pipelined per
    node (redis-py's ``mget_nonatomic``, inside ``gate`` when given: it bypasses
    ``run``), so a batch can never fail with ``CROSSSLOT``.
    """
    if callable(getattr(client, "mget_nonatomic", None)) and callable(
        getattr(client, "get_primaries", None)
    ):
        if gate is None:
            return list(await client.mget_nonatomic(keys))
        async with gate:
            return list(await client.mget_nonatomic(keys))
    return list(await run("MGET", *keys))


class Once:
    """Tells whether a Redis name (as ``SCAN`` returned it) is new in this iteration.

    Remembers up to ``limit`` names, so a name among the first ``limit`` distinct ones is
    never yielded twice; past that, a duplicate is dropped only within one batch.

    A name of at most ``EXACT_LENGTH`` characters is remembered as the reply's own object
    (exact). A longer one is remembered as the first 128 bits of the SHA-256 of 16 random
    bytes drawn per iteration followed by its bytes, as an ``int`` (never equal to a name):
    two distinct long names share a mark with probability 2**-128 per pair, fresh in
    every call and not something a crafted key can aim at. Such a collision would drop
    the second name from that one call (never from the store); with at most 10,000 marks
    and a million names checked against them that is below 10**-28 per call. Within a
    batch past the limit, names are compared as they are (the batch holds them anyway).
    """

    __slots__ = ("_batch", "_limit", "_salted", "_seen")

    def __init__(self, limit: int = DEDUPE_LIMIT) -> None:
        self._seen: set[str | bytes | int] = set()
        self._batch: set[str | bytes] = set()
        self._limit = limit
        self._salted = sha256(os.urandom(16))  # copied per name: the salt is hashed once

    def new_batch(self) -> None:
        self._batch.clear()

    def mark(self, raw: str | bytes) -> str | bytes | int:
        """What ``raw`` is remembered by: itself when short, else its salted digest."""
        if len(raw) <= EXACT_LENGTH:
            return raw
        state = self._salted.copy()
        state.update(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass"))
        return int.from_bytes(state.digest()[:16], "little")

    def first(self, raw: str | bytes) -> bool:
        if self._batch and raw in self._batch:
            return False
        mark = self.mark(raw)
        if mark in self._seen:
            return False
        if len(self._seen) < self._limit:
            self._seen.add(mark)
        else:
            self._batch.add(raw)
        return True
