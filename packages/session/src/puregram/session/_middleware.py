"""``session()``: the middleware that loads, exposes and saves ``context.session``."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from puregram.storage import (
    KeyLocks,
    KVStorage,
    MemoryStorage,
    encode_value,
    is_get_touch_storage,
    is_ttl_storage,
)

from ._errors import NoSessionError
from ._nosession import NoSession
from ._session import Clock, Session
from ._ttl import TTL_KEY, read_meta

__all__ = ["Middleware", "Next", "session"]

Next = Callable[[], Awaitable[object]]
Middleware = Callable[[Any, Next], Awaitable[None]]

Initial = Callable[[Any], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
GetStorageKey = Callable[[Any], str | Awaitable[str | None] | None]

# typeshed omits scan_once, which JSONDecoder.__init__ sets (the C scanner when available).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _decode(text: str) -> Any:
    """Copy back from JSON text this module encoded itself (compact, no surrounding
    whitespace), with the C scanner alone: ``json.loads`` adds two regex scans."""
    return _scan(text, 0)[0]


def _unix_ms() -> int:
    return time.time_ns() // 1_000_000


def session(
    *,
    initial: Initial | None = None,
    get_storage_key: GetStorageKey | None = None,
    storage: KVStorage[Any] | None = None,
    clock: Callable[[], int] | None = None,
) -> Middleware:
    """Build the session middleware: ``await middleware(context, next)``.

    - ``initial(context)``, sync or async: the mapping a missing session starts from
      (default: empty). ``ttl()`` values in it work.
    - ``get_storage_key(context)``, sync or async: the storage key, or ``None`` for "this
      update has no session" (default: ``str(context.sender_id)``).
    - ``storage``: any ``KVStorage`` (default: a new ``MemoryStorage``).
    - ``clock``: unix milliseconds, for ttl (default: the system clock); tests pass a
      fake one to move time without sleeping.

    Round trips per update: one read (``get_and_touch`` when the store has it, else
    ``get``), then a ``set`` or ``delete`` when the session changed, or a ``touch`` when it
    did not and the read did not already roll the ttl.
    """
    if initial is not None and not callable(initial):
        raise TypeError(f"session(initial=...) must be callable, got {type(initial).__name__}")
    if get_storage_key is not None and not callable(get_storage_key):
        raise TypeError(
            f"session(get_storage_key=...) must be callable, got {type(get_storage_key).__name__}"
        )
    if clock is not None and not callable(clock):
        raise TypeError(f"session(clock=...) must be callable, got {type(clock).__name__}")
    if storage is None:
        storage = MemoryStorage()
    elif not all(callable(getattr(storage, name, None)) for name in ("get", "set", "delete")):
        raise TypeError(
            "session(storage=...) must be a puregram KVStorage "
            f"(get, set, delete), got {type(storage).__name__}"
        )
    return SessionMiddleware(initial, get_storage_key, storage, clock or _unix_ms)


class SessionMiddleware:
    """The middleware ``session()`` returns. See ``session`` for what it does."""

    __slots__ = ("_clock", "_get_key", "_initial", "_locks", "_read", "_storage", "_touch")

    def __init__(
        self,
        initial: Initial | None,
        get_storage_key: GetStorageKey | None,
        storage: KVStorage[Any],
        clock: Clock,
    ) -> None:
        self._initial = initial
        self._get_key = get_storage_key
        self._storage = storage
        self._clock = clock
        self._locks = KeyLocks(anyio.Event)
        # Resolved once: the hot path calls bound methods, never re-probes the store.
        self._read: Callable[[str], Awaitable[Any]]
        self._touch: Callable[[str], Awaitable[None]] | None
        if is_get_touch_storage(storage):
            self._read, self._touch = storage.get_and_touch, None  # the read already touches
        elif is_ttl_storage(storage):
            self._read, self._touch = storage.get, storage.touch
        else:
            self._read, self._touch = storage.get, None

    async def __call__(self, context: Any, next: Next) -> None:  # noqa: A002
        if self._get_key is None:
            sender_id = getattr(context, "sender_id", None)
            key = self._no_sender(context) if sender_id is None else str(sender_id)
        else:
            key = await self._custom_key(context)
        if type(key) is not str:
            assert isinstance(key, NoSession)
            await self._without_session(context, next, key)
            return
        locks = self._locks
        if not locks.try_acquire(key):
            await locks.wait(key)
        try:
            await self._run(context, next, key)
        finally:
            locks.release(key)

    @staticmethod
    def _no_sender(context: Any) -> NoSession:
        if hasattr(context, "sender_id"):
            return NoSession("context.sender_id is None")
        return NoSession("the context has no sender_id")

    async def _custom_key(self, context: Any) -> str | NoSession:
        assert self._get_key is not None
        key = self._get_key(context)
        if inspect.isawaitable(key):
            key = await key
        if key is None:
            return NoSession("get_storage_key returned None")
        if not isinstance(key, str):
            raise TypeError(
                f"get_storage_key must return str or None, got {type(key).__name__}: {key!r}"
            )
        return key

    @staticmethod
    async def _without_session(context: Any, next: Next, stand_in: NoSession) -> None:  # noqa: A002
        context.session = stand_in
        await next()
        assigned = getattr(context, "session", None)
        if assigned is not stand_in and assigned is not None:
            raise NoSessionError(
                f"the handler assigned context.session, but this update has no session "
                f"({stand_in._reason}): nothing was saved"
            )

    async def _run(self, context: Any, next: Next, key: str) -> None:  # noqa: A002
        raw = await self._read(key)
        if raw is None:
            before = None
            current = await self._new(context, key)
        else:
            # A fresh copy: the store may hold the record by reference (MemoryStorage),
            # and the handler must not change it before we decide to save.
            before = _encode(key, raw)
            record = _decode(before)
            if type(record) is not dict:
                raise ValueError(
                    f"stored session at key {key!r} is a JSON {type(record).__name__}, "
                    "not an object"
                )
            meta = record.pop(TTL_KEY, None)
            current = Session(record, read_meta(meta, record) if meta else {}, self._clock)
        context.session = current

        await next()  # raises: nothing is saved, the exception propagates as it is

        assigned = getattr(context, "session", None)
        if assigned is not current:
            current = self._replaced(key, assigned)
        record = current._record()
        if not record:
            if before is not None:
                await self._storage.delete(key)
            return
        after = _encode(key, record)
        if after == before:
            if self._touch is not None:
                await self._touch(key)
            return
        # Store a fresh copy, never the handler's live objects: a reference the handler
        # leaked must not be able to change the stored record later.
        await self._storage.set(key, _decode(after))

    async def _new(self, context: Any, key: str) -> Session:
        current = Session({}, {}, self._clock)
        if self._initial is None:
            return current
        start = self._initial(context)
        if not isinstance(start, Mapping) and inspect.isawaitable(start):
            start = await start
        if not isinstance(start, Mapping):
            raise TypeError(f"initial must return a mapping, got {type(start).__name__}")
        current.update(start)  # through __setitem__: ttl() values and key checks apply
        if current._data:
            # Copy, so that a handler never mutates a mapping ``initial`` keeps around.
            object.__setattr__(current, "_data", _decode(_encode(key, current._data)))
        return current

    def _replaced(self, key: str, assigned: object) -> Session:
        """The session after the handler assigned ``context.session`` (or deleted it)."""
        current = Session({}, {}, self._clock)
        if assigned is None:
            return current
        if not isinstance(assigned, Mapping):
            raise TypeError(
                f"context.session must be a mapping or None, got {type(assigned).__name__}: "
                f"nothing was saved at key {key!r}"
            )
        if isinstance(assigned, Session):
            return assigned
        current.update(assigned)
        return current


def _encode(key: str, record: Any) -> str:
    """JSON text of ``record``; on failure, an error naming the session key at fault."""
    try:
        return encode_value(key, record)
    except (TypeError, ValueError) as exc:
        if isinstance(record, dict):
            for name, value in record.items():
                try:
                    encode_value(key, value)
                except (TypeError, ValueError) as inner:
                    hint = ""
                    if "Ttl" in str(inner.__cause__):
                        hint = " (ttl() only works on a top-level session key)"
                    held = type(value).__name__
                    if isinstance(value, float):
                        held = f"float ({value!r})"
                    raise type(exc)(
                        f"cannot save the session at storage key {key!r}: session key "
                        f"{name!r} holds a {held} JSON cannot hold{hint}: {inner.__cause__}"
                    ) from exc
        raise
