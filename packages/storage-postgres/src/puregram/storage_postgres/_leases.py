"""Leases in PostgreSQL: ``PostgresStorage.lock``.

A lease is a row ``(key, token, expires_at)`` of the table ``<table>:leases`` beside the
data, so it holds across every connection and process on the database, and the data
table keeps its format. Waiting never busy-loops:

- tasks of one store queue in-process first (core ``LocalLeases``): a waiter parks until
  the holder releases, or at the latest until the holder's lease would have ended;
- the task at the head of that queue takes the lease row, and while another store holds
  it retries with backoff: 1 ms, doubling, at most 50 ms, with jitter.

Every write that ends a lease is one statement that deletes the lease row only if its
token still holds it (and it has not expired) and writes only when it did: a holder that
outlived ``lease_ms`` is refused with ``LeaseLostError``, and nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from puregram.storage import BaseLease, LeaseLostError, encode_value

if TYPE_CHECKING:
    from ._storage import PostgresStorage

V = TypeVar("V")

__all__ = ["PostgresLease"]


class PostgresLease(BaseLease[V]):
    """The ``Lease`` of ``PostgresStorage.lock``: the value read when the lease was taken,
    and the writes that end it, each fenced by the lease's token in one statement."""

    __slots__ = ("_store", "_token", "_turn")

    def __init__(
        self, store: PostgresStorage[V], key: str, token: str, turn: int, found: bool, value: Any
    ) -> None:
        super().__init__(key, found, value)
        self._store = store
        self._token = token
        self._turn = turn

    async def save(self, value: V) -> None:
        """Store ``value`` at ``key`` (with ``ttl_ms`` as ``set`` does) and end the lease,
        in one statement. ``LeaseLostError`` (and nothing written) if it was lost. A
        value JSON cannot hold raises before anything, and so does a failed statement
        (asyncpg's error): the lease then goes on."""
        self._check_open()
        text = encode_value(self._key, value)
        store = self._store
        ttl = store._ttl_ms
        expires_at = None if ttl is None else store._clock() + ttl
        await self._end(store._sql.fenced_set, (text, expires_at), lost_raises=True)

    async def remove(self) -> None:
        """Delete ``key`` and end the lease, in one statement. ``LeaseLostError`` (and
        nothing deleted) if it was lost."""
        self._check_open()
        await self._end(self._store._sql.fenced_delete, (), lost_raises=True)

    async def release(self, *, touch: bool = False) -> None:
        """End the lease without writing: one DELETE of its row. With ``touch=True`` and
        ``ttl_ms``, also roll the key's ttl forward (as ``touch``) in the same statement,
        unless the lease was lost. Never raises for a lost lease; a second call does
        nothing."""
        if self._done:
            return
        store = self._store
        ttl = store._ttl_ms
        if touch and ttl is not None:
            expires_at = store._clock() + ttl
            await self._end(store._sql.fenced_touch, (expires_at,), lost_raises=False)
            return
        self._done = True
        try:
            await store._pool.execute(store._sql.drop_lease, self._key, self._token)
        finally:
            store._lease_queue.release(self._key, self._turn)

    async def _end(self, sql: str, args: tuple[Any, ...], *, lost_raises: bool) -> None:
        # A statement that fails (connection lost) leaves the lease held, so that leaving
        # the block still releases it.
        store = self._store
        held = await store._run_fenced(sql, self._key, self._token, *args)
        self._done = True
        store._lease_queue.release(self._key, self._turn)
        if not held and lost_raises:
            raise LeaseLostError(
                self._key, "it outlived its lease_ms, and its row was ended or taken"
            )
