"""Leases on a SQLite file: ``SqliteStorage.lock``.

A lease is a row ``(key, token, expires_at)`` of the table ``<table>:leases`` in the same
file, so it holds across every connection and process on the file. Waiting never
busy-loops:

- tasks of one store instance queue in-process first (core ``LocalLeases``): a waiter parks on
  an event that the holder's release sets, and wakes at the latest when the holder's
  lease would have ended, so a holder that hangs frees the key after ``lease_ms``;
- the one task per key at the head of that queue takes the lease row, and while another
  connection holds it retries with backoff: 1 ms, doubling, at most 50 ms, with jitter.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from puregram.storage import LeaseLostError, encode_value

from ._loop import due, pause, sleep

if TYPE_CHECKING:
    from ._storage import SqliteStorage

V = TypeVar("V")

__all__ = ["FIRST_RETRY_S", "LAST_RETRY_S", "SqliteLease", "retry_delays"]

FIRST_RETRY_S = 0.001
LAST_RETRY_S = 0.05


def retry_delays(jitter: Callable[[float, float], float] = random.uniform) -> Any:
    """Seconds to sleep between attempts at a held lease: 1 ms, doubling, capped at
    50 ms, each drawn from the upper half of its step so that waiters spread out."""
    delay = FIRST_RETRY_S
    while True:
        yield jitter(delay / 2, delay)
        delay = min(delay * 2, LAST_RETRY_S)


class SqliteLease(Generic[V]):
    """The ``Lease`` of ``SqliteStorage.lock``: the value read when the lease was taken,
    and the writes that end it, each fenced by the lease's token in one transaction."""

    __slots__ = ("_done", "_found", "_key", "_store", "_token", "_turn", "_value")

    def __init__(
        self, store: SqliteStorage[V], key: str, token: str, turn: int, found: bool, value: Any
    ) -> None:
        self._store = store
        self._key = key
        self._token = token
        self._turn = turn
        self._found = found
        self._value = value
        self._done = False

    @property
    def key(self) -> str:
        """The key the lease is on."""
        return self._key

    @property
    def value(self) -> V | None:
        """The value at ``key`` when the lease was taken (``None`` when missing)."""
        return self._value  # type: ignore[no-any-return]

    @property
    def found(self) -> bool:
        """Whether ``key`` held a live value (``None`` included) when it was taken."""
        return self._found

    def __repr__(self) -> str:
        state = "ended" if self._done else "held"
        return f"SqliteLease(key={self._key!r}, {state})"

    def _begin_end(self) -> None:
        if self._done:
            raise RuntimeError(f"the lease on key {self._key!r} has ended already")

    async def save(self, value: V) -> None:
        """Store ``value`` at ``key`` (with ``ttl_ms`` as ``set`` does) and end the
        lease, in one transaction: the lease's row is deleted if it still holds, then
        the value is written. ``LeaseLostError`` (and nothing written) if it was lost.
        A value JSON cannot hold raises before anything, and so does a failed write
        (the driver's error): the lease then goes on."""
        self._begin_end()
        text = encode_value(self._key, value)
        store = self._store
        ttl = store._ttl_ms
        if due():
            await pause()
        expires_at = None if ttl is None else store._clock() + ttl
        await self._end(store._sql.set, (self._key, text, expires_at), lost_raises=True)

    async def remove(self) -> None:
        """Delete ``key`` and end the lease, in one transaction. ``LeaseLostError`` (and
        nothing deleted) if it was lost."""
        self._begin_end()
        if due():
            await pause()
        await self._end(self._store._sql.delete, (self._key,), lost_raises=True)

    async def release(self, *, touch: bool = False) -> None:
        """End the lease without writing: one DELETE of its row. With ``touch=True`` and
        ``ttl_ms``, also roll the key's ttl forward (as ``touch``) in the same
        transaction, unless the lease was lost. Never raises for a lost lease; a second
        call does nothing."""
        if self._done:
            return
        store = self._store
        ttl = store._ttl_ms
        if touch and ttl is not None:
            now = store._clock()
            await self._end(store._sql.touch, (now + ttl, self._key, now), lost_raises=False)
            return
        self._done = True
        try:
            store._run_change(store._sql.drop_lease, (self._key, self._token), self._key)
        finally:
            store._lease_queue.release(self._key, self._turn)

    async def _end(self, sql: str, params: tuple[Any, ...], *, lost_raises: bool) -> None:
        # A write that fails (database locked, a caller's transaction open) leaves the
        # lease held, so that leaving the block still releases it.
        store = self._store
        held = store._run_fenced(self._key, self._token, sql, params)
        self._done = True
        store._lease_queue.release(self._key, self._turn)
        if not held and lost_raises:
            raise LeaseLostError(
                self._key, "it outlived its lease_ms, and its row was ended or taken"
            )


async def take(store: SqliteStorage[Any], key: str, lease_ms: int, turn: int) -> SqliteLease[Any]:
    """Take the lease row of ``key`` (the caller holds the key's local turn): one
    INSERT ... ON CONFLICT ... RETURNING per attempt, retried with backoff while
    another connection holds it."""
    token = secrets.token_hex(16)
    delays = retry_delays()
    while True:
        taken = store._try_lease(key, token, lease_ms)
        if taken is not None:
            found, value = taken
            store._lease_queue.renew(key, turn, lease_ms)
            return SqliteLease(store, key, token, turn, found, value)
        # Alive and waiting: local waiters keep waiting behind this task.
        store._lease_queue.renew(key, turn, lease_ms)
        await sleep(next(delays))
