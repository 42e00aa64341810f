"""Leases on Redis: what ``RedisStorage.lock`` is made of.

A key's lease is a Redis string holding a random token, with ``PX lease_ms``, at a name in
the data key's hash slot (``lease_name``), so that one Lua script reads or writes both,
on a cluster too. Taking it is one script (``SET NX PX`` and, when taken, the data's
``GET``); ``save``, ``remove`` and ``release`` are one script each that compares the
token first and writes nothing when it is not the holder's any more. A holder that dies
frees the key when its lease expires.

Waiting: tasks of one store instance queue in process (``LocalLeases``, with the
holder's deadline, so a hung holder in this process loses the key after ``lease_ms``
too), so only the first polls the server; it retries with a doubling, jittered backoff (1 ms
up to 50 ms, and never much past the lease's remaining ``PTTL``). See the README for why
this polls rather than blocking on a wake-up list.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import secrets
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from puregram.storage import (
    BaseLease,
    CorruptValueError,
    LeaseLostError,
    decode_value,
    describe_key,
)

if TYPE_CHECKING:
    from ._storage import RedisStorage

V = TypeVar("V")

__all__ = [
    "LEASE_NAMESPACE",
    "MAX_BACKOFF_S",
    "RedisLease",
    "RedisLockContext",
    "Script",
    "lease_name",
]

LEASE_NAMESPACE = "puregram-lease:{"
"""Every lease name starts with this; no data name may (see ``RedisStorage``)."""

MAX_BACKOFF_S = 0.05
"""The longest pause between two tries of a waiting task."""

_FIRST_BACKOFF_S = 0.001


class Script:
    """A Lua script and its SHA1, the name ``EVALSHA`` calls it by."""

    __slots__ = ("lua", "sha")

    def __init__(self, lua: str) -> None:
        self.lua = lua
        self.sha = hashlib.sha1(lua.encode()).hexdigest()


# KEYS[1] lease, KEYS[2] data. The GET comes first: on a key of another type it fails
# before the SET, so a failed take leaves no lease behind.
ACQUIRE = Script("""
local value = redis.call('GET', KEYS[2])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, value}
end
return {0, redis.call('PTTL', KEYS[1])}
""")

SAVE = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('DEL', KEYS[1])
return 1
""")

REMOVE = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[1])
return 1
""")

RELEASE = Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
""")


def lease_name(name: str, *, cluster: bool, key: str) -> str:
    """The name of the lease on data name ``name``: ``puregram-lease:{T}`` + ``name``,
    ``T`` being the text Redis hashes ``name`` by (its hash tag, else all of it), so both
    are in one slot. ``T`` never holds a ``}``, so the lease's tag is ``T`` again and the
    name maps back to exactly one data name.

    A ``name`` without a valid tag that holds a ``}`` (or is empty) has no such name: on a
    cluster that is a ``ValueError`` naming ``key``; one server takes
    ``puregram-lease:{}`` + ``name`` (slots do not matter there).
    """
    start = name.find("{")
    if start >= 0:
        end = name.find("}", start + 1)
        if end > start + 1:
            return f"{LEASE_NAMESPACE}{name[start + 1 : end]}}}{name}"
    if name and "}" not in name:
        return f"{LEASE_NAMESPACE}{name}}}{name}"
    if cluster:
        raise ValueError(
            f"cannot lock key {describe_key(key)} on a Redis Cluster: its name {name!r:.80} "
            "has no {hash tag} and holds a '}' (or is empty), so no lease name can share its "
            "hash slot; put a {tag} in the key or the prefix"
        )
    return f"{LEASE_NAMESPACE}}}{name}"


class RedisLease(BaseLease[V]):
    """The ``Lease`` that ``RedisStorage.lock`` yields; every write is one ``EVALSHA``."""

    __slots__ = ("_context",)

    def __init__(self, context: RedisLockContext[V], found: bool, value: V | None) -> None:
        super().__init__(context.key, found, value)
        self._context = context

    async def _end(self, script: Script, *args: Any) -> bool:
        """Run the ending ``script`` and free the in-process lock, whatever happens."""
        self._done = True
        context = self._context
        try:
            return bool(await context.store._eval(script, 2, context.lease, context.name, *args))
        finally:
            context.unlock()

    async def save(self, value: V) -> None:
        """Store ``value`` (``SET``, ``PX ttl_ms`` with a ttl) and end the lease: one
        ``EVALSHA``. ``LeaseLostError`` and nothing written when the lease was lost. A
        value JSON cannot hold raises before anything is sent and keeps the lease."""
        self._check_open()
        store = self._context.store
        text = store._encode(self._key, value)
        ttl = store.ttl_ms
        args = (self._context.token, text) if ttl is None else (self._context.token, text, ttl)
        if not await self._end(SAVE, *args):
            raise LeaseLostError(self._key, "it outlived its lease_ms")

    async def remove(self) -> None:
        """Delete the key and end the lease: one ``EVALSHA``. ``LeaseLostError`` and
        nothing deleted when the lease was lost."""
        self._check_open()
        if not await self._end(REMOVE, self._context.token):
            raise LeaseLostError(self._key, "it outlived its lease_ms")

    async def release(self, *, touch: bool = False) -> None:
        """End the lease (with ``touch`` and a store ttl, ``PEXPIRE`` the key too): one
        ``EVALSHA``; nothing for a lease that has ended already. A lost lease is freed
        by nobody and touches nothing; it never raises for that."""
        if self._done:
            return
        ttl = self._context.store.ttl_ms
        if touch and ttl is not None:
            await self._end(RELEASE, self._context.token, ttl)
        else:
            await self._end(RELEASE, self._context.token)


class RedisLockContext(AbstractAsyncContextManager[RedisLease[V]]):
    """``async with store.lock(key) as lease``: take the lease on entry, release it
    (without writing) on exit unless the block ended it. One use."""

    __slots__ = ("_lease", "_local", "key", "lease", "lease_ms", "name", "store", "token")

    def __init__(
        self, store: RedisStorage[V], key: str, name: str, lease: str, lease_ms: int
    ) -> None:
        self.store = store
        self.key = key
        self.name = name
        self.lease = lease
        self.lease_ms = lease_ms
        self.token = secrets.token_hex(16)
        self._lease: RedisLease[V] | None = None
        self._local = 0  # the in-process lease's token while held

    def unlock(self) -> None:
        """Free the in-process lease (once), handing the key to the next local waiter."""
        if self._local:
            local, self._local = self._local, 0
            self.store._lease_locks.release(self.name, local)

    async def __aenter__(self) -> RedisLease[V]:
        if self._lease is not None or self._local:
            raise RuntimeError("a lock() context can be entered once")
        self._local = await self.store._lease_locks.acquire(self.name, self.lease_ms)
        try:
            raw = await self._take()
            found = raw is not None
            try:
                value: V | None = decode_value(self.key, raw) if found else None
            except CorruptValueError:
                await self._abandon()
                raise
        except BaseException:
            self.unlock()
            raise
        self._lease = RedisLease(self, found, value)
        return self._lease

    async def _take(self) -> Any:
        """Try until the lease is taken; return the raw value read with it."""
        store = self.store
        delay = _FIRST_BACKOFF_S
        args = (ACQUIRE, 2, self.lease, self.name, self.token, self.lease_ms)
        while True:
            try:
                taken, reply = await store._eval(*args)
            except UnicodeDecodeError as exc:
                # decode_responses=True and a value that is not UTF-8: the lease was taken.
                await self._abandon()
                raise CorruptValueError(self.key, str(exc)) from exc
            except BaseException:
                # Cancelled or disconnected mid-call: the server may have given us the
                # lease; free it if we can (else it ends after lease_ms).
                await self._abandon()
                raise
            if taken:
                return reply
            pause = delay * (0.5 + random.random() / 2)  # jitter: waiters of several
            left = int(reply) / 1000  # processes do not retry in step
            if 0 < left < pause:
                pause = left + _FIRST_BACKOFF_S  # the lease runs out first: be there then
            await asyncio.sleep(pause)
            delay = min(delay * 2, MAX_BACKOFF_S)

    async def _abandon(self) -> None:
        """Best effort: free the lease if this context holds it. Never raises ``Exception``."""
        with contextlib.suppress(Exception):
            await self.store._eval(RELEASE, 2, self.lease, self.name, self.token)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        lease = self._lease
        try:
            if lease is not None and not lease._done:
                try:
                    await lease.release()
                except Exception:
                    if exc is None:
                        raise
                    # The block's own error matters more; the lease ends after lease_ms.
        finally:
            self.unlock()
