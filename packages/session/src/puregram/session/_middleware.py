"""``session()``: the middleware that loads, exposes and saves ``context.session``."""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import anyio

from puregram.storage import (
    CorruptValueError,
    ForeignValueError,
    KeyLocks,
    KVStorage,
    Lease,
    MemoryStorage,
    check_key,
    check_ms,
    encode_value,
    is_get_touch_storage,
    is_lock_storage,
    is_ttl_storage,
)

from ._errors import NoSessionError
from ._keys import by_sender, no_key_reason, normalise
from ._nosession import NoSession
from ._session import SCALARS, Clock, Session, _text
from ._ttl import TTL_KEY, read_meta

__all__ = [
    "Isolation",
    "LazySession",
    "Middleware",
    "Next",
    "SessionMiddleware",
    "Sessions",
    "session",
]

Next = Callable[[], Awaitable[object]]
Middleware = Callable[[Any, Next], Awaitable[None]]

Initial = Callable[[Any], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
StorageKey = str | Mapping[str, Any] | None
GetStorageKey = Callable[[Any], StorageKey | Awaitable[StorageKey]]

Isolation = Literal["store", "process"]
"""``"store"``: every update holds the store's lease on its key (``LockStorage.lock``),
exclusive across processes; ``"process"``: a per-key lock inside this middleware only."""

# typeshed omits scan_once, which JSONDecoder.__init__ sets (the C scanner when available).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

# JSON's names for what a stored record may be instead of an object.
_JSON_TYPES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def _decode(key: str, text: str) -> Any:
    """Copy back from JSON text this module encoded itself (compact, no surrounding
    whitespace), with the C scanner alone: ``json.loads`` adds two regex scans.

    Text nested too deeply for the scanner is a ``CorruptValueError`` naming ``key``
    (as the core's ``decode_value``), never a bare ``RecursionError``.
    """
    try:
        return _scan(text, 0)[0]
    except RecursionError:
        raise CorruptValueError(key, "the session is nested too deeply to read") from None


def _copy_stored(key: str, raw: object) -> tuple[str, dict[str, Any]]:
    """The JSON text of a stored record and a fresh copy of it, for the handler.

    A record that cannot be copied as JSON (nested too deeply, a type JSON cannot hold,
    put in a ``MemoryStorage`` by hand) is a ``CorruptValueError``; one that is not a
    JSON object (another plugin's record, or a JSON ``null``) is a ``ForeignValueError``.
    Both name the key, and the record is left as it was.
    """
    try:
        text = encode_value(key, raw)
    except (TypeError, ValueError) as exc:
        raise CorruptValueError(key, f"the stored session is not JSON: {exc}") from exc
    record = _decode(key, text)
    if record.__class__ is not dict:
        kind = _JSON_TYPES.get(record.__class__, f"a {type(record).__name__}")
        raise ForeignValueError(key, f"is {kind} in JSON, not a session (a JSON object)")
    return text, record


def _unix_ms() -> int:
    return time.time_ns() // 1_000_000


def session(
    *,
    initial: Initial | None = None,
    get_storage_key: GetStorageKey | None = None,
    storage: KVStorage[Any] | None = None,
    clock: Callable[[], int] | None = None,
    isolation: Isolation | None = None,
    lease_ms: int = 30_000,
    handled: Iterable[type[BaseException]] = (),
    lazy: bool = False,
) -> SessionMiddleware:
    """Build the session middleware: ``await middleware(context, next)``.

    - ``initial(context)``, sync or async: the mapping a missing session starts from
      (default: empty). ``ttl()`` values in it work.
    - ``get_storage_key(context)``, sync or async: the storage key, or ``None`` for "this
      update has no session" (default: ``str(context.sender_id)``).
    - ``storage``: any ``KVStorage`` (default: a new ``MemoryStorage``).
    - ``clock``: unix milliseconds, for ttl (default: the system clock); tests pass a
      fake one to move time without sleeping.
    - ``isolation``: ``"store"`` runs every update under the store's lease on its key
      (``storage.lock(key)``: exclusive across processes and middlewares), ``"process"``
      under a per-key lock of this middleware only; ``None`` (default) is ``"store"``
      when the store is a ``LockStorage``, else ``"process"``.
    - ``lease_ms``: how long a lease holds the key at most (whole ms, default 30,000):
      a worker that dies frees its users after that long. An update whose handler runs
      longer loses the key, and its save is refused with ``LeaseLostError``.
    - ``handled``: exception types a framework raises to mean "this update is handled,
      stop here" (python-telegram-bot's ``ApplicationHandlerStop``, aiogram's
      ``SkipHandler`` and ``CancelHandler``). When the handler raises one, the session is
      saved as if it had returned, and the exception then propagates unchanged. Any other
      exception saves nothing (default: none, so every exception saves nothing).
    - ``lazy``: ``context.session`` is an awaitable, and ``await context.session`` reads
      the store (and takes the lease or lock) on first use; an update whose handler never
      awaits it costs no store call at all. Later awaits return the same ``Session``.

    The middleware's ``sessions`` reads (``get``) and changes (``edit``) sessions outside
    an update, under the same lease or lock.

    Round trips per update, with a lease: the lease and the read (one), then a save, a
    remove or a release (one; the release touches the ttl on a ``TtlStorage``). Without:
    one read (``get_and_touch`` when the store has it, else ``get``; a ``has`` follows a
    read that found nothing, to tell a missing record from a stored JSON ``null``), then
    a ``set`` or ``delete`` when the session changed, or a ``touch`` when it did not and
    the read did not already roll the ttl.

    Options of the wrong type are a ``TypeError``, out of range a ``ValueError``, both
    naming the option; ``isolation="store"`` over a store without ``lock`` is a
    ``TypeError``.
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
    elif not all(
        callable(getattr(storage, name, None)) for name in ("get", "set", "delete", "has")
    ):
        raise TypeError(
            "session(storage=...) must be a puregram KVStorage "
            f"(get, set, delete, has), got {type(storage).__name__}"
        )
    lease_ms = check_ms("lease_ms", lease_ms, owner="session")
    handled = _check_handled(handled)
    if lazy.__class__ is not bool:
        raise TypeError(f"session(lazy=...) must be True or False, got {lazy!r:.60}")
    if get_storage_key is by_sender:
        get_storage_key = None  # the same key, by the fast path
    if isolation is None:
        leased = is_lock_storage(storage)
    elif isolation == "store":
        if not is_lock_storage(storage):
            raise TypeError(
                "session(isolation='store') needs a store with lock() (a LockStorage), "
                f"got {type(storage).__name__}; use isolation='process' for this store"
            )
        leased = True
    elif isolation == "process":
        leased = False
    else:  # a caller without a type checker
        error = ValueError if isinstance(isolation, str) else TypeError  # type: ignore[unreachable]
        raise error(
            f"session(isolation=...) must be 'store', 'process' or None, got {isolation!r:.60}"
        )
    return SessionMiddleware(
        initial,
        get_storage_key,
        storage,
        clock or _unix_ms,
        leased=leased,
        lease_ms=lease_ms,
        handled=handled,
        lazy=lazy,
    )


def _check_handled(handled: object) -> tuple[type[BaseException], ...]:
    """``session(handled=...)`` as a tuple for ``except``: exception classes only."""
    if isinstance(handled, type) or not isinstance(handled, Iterable):
        raise TypeError(
            f"session(handled=...) must be an iterable of exception classes, got {handled!r:.60}"
        )
    types = tuple(handled)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"session(handled=...) must hold exception classes, got {item!r:.60}")
    return types


class SessionMiddleware:
    """The middleware ``session()`` returns. See ``session`` for what it does."""

    __slots__ = (
        "_clock",
        "_get_key",
        "_handled",
        "_has",
        "_initial",
        "_lazy",
        "_lease_ms",
        "_lock",
        "_locks",
        "_read",
        "_storage",
        "_touch",
        "_touch_on_release",
    )

    def __init__(
        self,
        initial: Initial | None,
        get_storage_key: GetStorageKey | None,
        storage: KVStorage[Any],
        clock: Clock,
        *,
        leased: bool = False,
        lease_ms: int = 30_000,
        handled: tuple[type[BaseException], ...] = (),
        lazy: bool = False,
    ) -> None:
        self._lazy = lazy
        self._initial = initial
        self._handled = handled  # an empty tuple: ``except ()`` catches nothing
        self._get_key = get_storage_key
        self._storage = storage
        self._clock = clock
        self._lease_ms = lease_ms
        # No in-process queue in front of a lease: the store queues its own waiters per
        # key (see the README, "Concurrency"), and a queue here would make a waiter in
        # this process wait out a hung handler instead of its lease_ms.
        self._locks = KeyLocks(anyio.Event)
        # Resolved once: the hot path calls bound methods, never re-probes the store.
        self._lock: Callable[..., Any] | None = (
            storage.lock if leased and is_lock_storage(storage) else None
        )
        self._touch_on_release = is_ttl_storage(storage)
        self._has: Callable[[str], Awaitable[bool]] = storage.has
        self._read: Callable[[str], Awaitable[Any]]
        self._touch: Callable[[str], Awaitable[None]] | None
        if is_get_touch_storage(storage):
            self._read, self._touch = storage.get_and_touch, None  # the read already touches
        elif is_ttl_storage(storage):
            self._read, self._touch = storage.get, storage.touch
        else:
            self._read, self._touch = storage.get, None

    @property
    def isolation(self) -> Isolation:
        """``"store"`` when updates hold the store's lease, else ``"process"``."""
        return "process" if self._lock is None else "store"

    @property
    def lazy(self) -> bool:
        """Whether ``context.session`` is an awaitable (``session(lazy=True)``)."""
        return self._lazy

    @property
    def sessions(self) -> Sessions:
        """Sessions by key, outside an update: ``get(key)`` and ``edit(key)``."""
        return Sessions(self)

    async def __call__(self, context: Any, next: Next) -> None:  # noqa: A002
        if self._get_key is None:
            sender_id = getattr(context, "sender_id", None)
            if sender_id is None:
                key: str | NoSession = self._no_sender(context)
            else:
                key = str(sender_id)
                if key.__class__ is not str or not key.isascii():
                    key = check_key(key)  # an exact str, and no lone surrogate
        else:
            key = await self._custom_key(context)
        if key.__class__ is not str:
            assert isinstance(key, NoSession)
            await self._without_session(context, next, key)
            return
        assert isinstance(key, str)
        if self._lazy:
            await self._run_lazy(context, next, key)
            return
        if self._lock is not None:
            await self._run_leased(context, next, key)
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
            return NoSession(no_key_reason(self._get_key, context))
        key = _storage_key(key, "get_storage_key")
        if not key:
            return NoSession("get_storage_key returned an empty key")
        return key

    # -- the lazy path and sessions.edit: one context manager holds, loads and saves -------

    @asynccontextmanager
    async def _open(
        self,
        key: str,
        context: Any,
        assigned: Callable[[Session], object],
        handled: tuple[type[BaseException], ...],
    ) -> AsyncIterator[Session]:
        """Hold ``key`` (the store's lease, else this middleware's lock), load its session
        and yield it; on leaving normally, or by a ``handled`` exception, save what
        ``assigned(session)`` says the session is now. Any other exception saves nothing.
        """
        if self._lock is not None:
            async with self._lock(key, lease_ms=self._lease_ms) as lease:
                raw = lease.value
                if raw is None and lease.found:
                    raise _stored_null(key)
                before, current = await self._load(context, key, raw)
                try:
                    yield current
                except handled:
                    await self._save_leased(lease, assigned(current), key, before, current)
                    raise
                await self._save_leased(lease, assigned(current), key, before, current)
            return
        locks = self._locks
        if not locks.try_acquire(key):
            await locks.wait(key)
        try:
            raw = await self._read_record(key)
            before, current = await self._load(context, key, raw)
            try:
                yield current
            except handled:
                await self._save(assigned(current), key, before, current)
                raise
            await self._save(assigned(current), key, before, current)
        finally:
            locks.release(key)

    async def _run_lazy(self, context: Any, next: Next, key: str) -> None:  # noqa: A002
        handle = LazySession(self, key, context)
        context.session = handle
        try:
            await next()
        except BaseException as exc:
            if handle._opened is None and handle._error is None:
                assigned = getattr(context, "session", None)
                if assigned is handle or not isinstance(exc, self._handled):
                    raise  # never loaded, nothing to save
                await handle._open()  # a replacement without a read: load, then save it
            await handle._close(exc)
            raise
        if handle._opened is None:
            if getattr(context, "session", None) is handle:
                return  # never awaited (or its load failed, and the handler caught that)
            await handle._open()  # a replacement without a read: load, then save it
        await handle._close(None)

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

    async def _load(
        self, context: Any, key: str, raw: Any
    ) -> tuple[dict[str, Any] | None, Session]:
        """The stored record (``None`` when new), which nothing changes, and the session.

        The store may hold the record by reference (``MemoryStorage``): the session copies
        a value when the handler first reads it, so the record stays as it was until the
        middleware decides to save.
        """
        if raw is None:
            return None, await self._new(context, key)
        stored, texts = _check_stored(key, raw)
        if TTL_KEY not in stored:
            return stored, Session._loaded(key, stored, texts, {}, self._clock)
        meta = stored[TTL_KEY]
        data = dict(stored)
        del data[TTL_KEY]
        return stored, Session._loaded(
            key, data, texts, read_meta(meta, data) if meta else {}, self._clock
        )

    def _after(
        self, assigned: object, key: str, current: Session, stored: dict[str, Any] | None
    ) -> object:
        """After the handler: ``_UNCHANGED``, ``None`` (the session is empty), or the record
        to store, a fresh copy that shares nothing with the handler."""
        if assigned is current and current._before is not None:
            assert stored is not None
            return _after_loaded(key, current, stored)
        if assigned is not current:
            current = self._replaced(key, assigned)
        record = current._record()
        if not record:
            return None
        after = _encode(key, record)
        if stored is not None and after == _stored_text(stored):
            return _UNCHANGED
        return _decode(key, after)

    async def _read_record(
        self, key: str, read: Callable[[str], Awaitable[Any]] | None = None
    ) -> Any:
        """The stored record at ``key`` (``None`` when there is none), without a lease."""
        read = read or self._read
        raw = await read(key)
        if raw is None and await self._has(key):
            # Either a stored JSON null, or another process wrote the record between the
            # two calls (without a lease nothing orders them): a second read tells.
            raw = await read(key)
            if raw is None and await self._has(key):
                raise _stored_null(key)
        return raw

    async def _run(self, context: Any, next: Next, key: str) -> None:  # noqa: A002
        raw = await self._read_record(key)
        before, current = await self._load(context, key, raw)
        context.session = current

        # Any other exception saves nothing and propagates as it is.
        try:
            await next()
        except self._handled:
            await self._save(getattr(context, "session", None), key, before, current)
            raise
        await self._save(getattr(context, "session", None), key, before, current)

    async def _save(
        self, assigned: object, key: str, before: dict[str, Any] | None, current: Session
    ) -> None:
        after = self._after(assigned, key, current, before)
        if after is None:
            if before is not None:
                await self._storage.delete(key)
            return
        if after is _UNCHANGED:
            if self._touch is not None:
                await self._touch(key)
            return
        # A fresh copy, never the handler's live objects: a reference the handler leaked
        # must not be able to change the stored record later.
        await self._storage.set(key, after)

    async def _run_leased(self, context: Any, next: Next, key: str) -> None:  # noqa: A002
        assert self._lock is not None
        # Leaving the block releases the lease without writing: when the handler raises,
        # and when the record is refused, nothing is saved.
        async with self._lock(key, lease_ms=self._lease_ms) as lease:
            raw = lease.value
            if raw is None and lease.found:
                raise _stored_null(key)
            before, current = await self._load(context, key, raw)
            context.session = current

            try:
                await next()
            except self._handled:
                await self._save_leased(
                    lease, getattr(context, "session", None), key, before, current
                )
                raise
            await self._save_leased(lease, getattr(context, "session", None), key, before, current)

    async def _save_leased(
        self,
        lease: Lease[Any],
        assigned: object,
        key: str,
        before: dict[str, Any] | None,
        current: Session,
    ) -> None:
        after = self._after(assigned, key, current, before)
        if after is None:
            if before is not None:
                await lease.remove()  # LeaseLostError when lost: nothing deleted
            else:
                await lease.release()
        elif after is _UNCHANGED:
            await lease.release(touch=self._touch_on_release)
        else:
            await lease.save(after)  # LeaseLostError when lost

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
            object.__setattr__(current, "_data", _decode(key, _encode(key, current._data)))
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


def _storage_key(key: object, where: str) -> str:
    """A key as ``get_storage_key`` may give it (a ``str`` or a ``{user, chat, thread,
    key}`` mapping) as the exact ``str`` to store under; ``""`` for "no session"."""
    if isinstance(key, str):
        # A str subclass (an enum member) becomes an exact str; a lone surrogate, which no
        # store can encode, is a ValueError now rather than a store error after the handler.
        return check_key(key)
    if isinstance(key, Mapping):
        return check_key(normalise(key, where))
    raise TypeError(
        f"{where} must return a str, a {{user, chat, thread, key}} mapping or None, "
        f"got {type(key).__name__}: {key!r:.60}"
    )


_UNCHANGED = object()
"""What ``_after`` returns for a session that is as it was stored."""

_LEAVES = frozenset((str, int, bool, type(None)))  # immutable, and == is exact for them


def _check_stored(key: str, raw: object) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored record, checked, as it is (a ``dict``: nothing copies it here), and the
    JSON text of each of its non-scalar values, which the session copies from when the
    handler reads one and compares with after.

    A record that is not a JSON object is a ``ForeignValueError``; one JSON cannot hold
    (put in a ``MemoryStorage`` by hand) a ``CorruptValueError``; both name the key.
    """
    if raw.__class__ is not dict or not all(name.__class__ is str for name in raw):
        # Another plugin's value, a dict subclass, or keys JSON would turn into text (put
        # in a MemoryStorage by hand): a copy through JSON, or the error saying why not.
        raw = _copy_stored(key, raw)[1]
    assert isinstance(raw, dict)
    texts: dict[str, str] = {}
    scalars = SCALARS
    try:
        for name, value in raw.items():
            kind = value.__class__
            if kind not in scalars:
                texts[name] = _text(value)
            elif kind is float and not math.isfinite(value):
                raise ValueError(f"float {value!r} is not JSON compliant")
    except RecursionError:
        raise CorruptValueError(key, "the session is nested too deeply to read") from None
    except (TypeError, ValueError) as exc:
        _copy_stored(key, raw)  # raises the error naming what is wrong
        raise CorruptValueError(key, f"the stored session is not JSON: {exc}") from exc
    return raw, texts


def _stored_text(stored: dict[str, Any]) -> str:
    return _text(stored)


_quote: Callable[[str], str] = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.py_encode_basestring
)


def _composed(stored: dict[str, Any], texts: dict[str, str]) -> str:
    """``_text(stored)``, put together from the texts of its values already made."""
    parts = []
    for name, value in stored.items():
        text = texts.get(name)
        parts.append(f"{_quote(name)}:{_text(value) if text is None else text}")
    return "{" + ",".join(parts) + "}"


def _after_loaded(key: str, current: Session, stored: dict[str, Any]) -> object:
    """``_after`` for the session loaded from ``stored``, comparing only what the handler
    could have changed: the values it read (by their JSON text) or assigned, the set of
    keys, and the ttl metadata. The values it never read are still the store's: they
    are neither copied nor compared, and the record saved shares them with ``stored``."""
    current._expire_all()
    data = current._data
    before = current._before
    assert before is not None
    pending = current._pending
    if len(pending) * 2 < len(data):
        # The handler read most values: compare and copy the record in one go, as text.
        full = current._record()
        if not full:
            return None
        after = _encode(key, full)
        return _UNCHANGED if after == _composed(stored, before) else _decode(key, after)
    changed = len(data) != len(stored) - (TTL_KEY in stored)
    if not changed:
        for name, value in data.items():
            if name in pending:
                continue
            if name in before:  # a copy the handler read: compare its text
                try:
                    text = _text(value)
                except (TypeError, ValueError, RecursionError):
                    changed = True  # not JSON any more: the save below says why
                    break
                if text != before[name]:
                    changed = True
                    break
                continue
            if name not in stored:
                changed = True
                break
            old = stored[name]
            if value is old:
                continue  # a leaf never read, or read and left
            kind = value.__class__
            if kind in _LEAVES:
                if kind is old.__class__ and value == old:
                    continue
            else:  # assigned: equal as JSON is unchanged, as it always was
                try:
                    if _text(value) == _text(old):
                        continue
                except (TypeError, ValueError, RecursionError):
                    pass  # not JSON: the save below says why
            changed = True
            break
    live = current._live_meta() if current._meta else {}
    if not changed:
        stored_meta = stored.get(TTL_KEY)
        if live:
            changed = stored_meta is None or _text(live) != before.get(TTL_KEY)
        else:
            changed = TTL_KEY in stored
    if not changed:
        return _UNCHANGED
    if not data:
        return None
    record: dict[str, Any] = {}
    for name, value in data.items():
        if name in pending:
            record[name] = value  # the store's own, never handed out
        elif value.__class__ in _LEAVES and (value.__class__ is not str or value.isascii()):
            record[name] = value  # immutable, and nothing to check (a str may hold a lone
            # surrogate only outside ASCII: those go through the core's check below)
        else:
            record[name] = _copy_value(key, name, value)
    if live:
        record[TTL_KEY] = {name: dict(entry) for name, entry in live.items()}
    elif not record:
        return None
    return record


def _copy_value(key: str, name: str, value: Any) -> Any:
    """A fresh copy of the session's ``value`` at ``name``, checked as the core checks
    what it stores; the error names the storage key and the session key."""
    try:
        text = encode_value(key, {name: value})
    except (TypeError, ValueError):
        _encode(key, {name: value})  # the error naming the session key
        raise
    return _decode(key, text)[name]


def _stored_null(key: str) -> ForeignValueError:
    return ForeignValueError(key, "is a JSON null, not a session (a JSON object)")


def _encode(key: str, record: Any) -> str:
    """JSON text of ``record``; on failure, an error naming the session key at fault.

    An error the core explains itself (nesting too deep, a dict key that is not a
    ``str``, with its path) is raised as the core's, naming the storage key.
    """
    try:
        return encode_value(key, record)
    except (TypeError, ValueError) as exc:
        if isinstance(record, dict) and exc.__cause__ is not None:
            for name, value in record.items():
                try:
                    encode_value(key, value)
                except (TypeError, ValueError) as inner:
                    if inner.__cause__ is None:
                        break
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


class LazySession:
    """``context.session`` with ``session(lazy=True)``: ``await`` it for the ``Session``.

    The first ``await`` takes the key (the store's lease, or the middleware's lock) and
    reads the record; later ones return the same ``Session``. The middleware saves it and
    lets go of the key after the handler. Used without ``await`` (``context.session.x``),
    it raises ``TypeError`` saying so.
    """

    __slots__ = ("_context", "_error", "_key", "_manager", "_middleware", "_opened", "_waiters")

    def __init__(self, middleware: SessionMiddleware, key: str, context: Any) -> None:
        self._middleware = middleware
        self._key = key
        self._context = context
        self._manager: AbstractAsyncContextManager[Session] | None = None
        self._opened: Session | None = None
        self._error: BaseException | None = None
        self._waiters: list[Any] | None = None  # events of awaits while the first loads

    def __repr__(self) -> str:
        state = "loaded" if self._opened is not None else "not loaded"
        return f"<lazy session {self._key!r}, {state}>"

    def __await__(self) -> Generator[Any, None, Session]:
        return self._get().__await__()

    async def _get(self) -> Session:
        if self._opened is not None:
            return self._opened
        if self._error is not None:
            raise self._error
        if self._waiters is not None:  # another task of this handler is loading it
            event = anyio.Event()
            self._waiters.append(event)
            await event.wait()
            return await self._get()
        return await self._open()

    async def _open(self) -> Session:
        self._waiters = []
        middleware = self._middleware
        context = self._context

        def assigned(current: Session) -> object:
            now = getattr(context, "session", None)
            return current if now is self else now

        manager = middleware._open(self._key, context, assigned, middleware._handled)
        try:
            self._opened = await manager.__aenter__()
            self._manager = manager
            return self._opened
        except Exception as exc:  # a cancelled wait is not an error: a later await retries
            self._error = exc
            raise
        finally:
            waiters, self._waiters = self._waiters, None
            for event in waiters:
                event.set()

    async def _close(self, exc: BaseException | None) -> None:
        manager, self._manager = self._manager, None
        if manager is None:
            return
        if exc is None:
            await manager.__aexit__(None, None, None)
        else:
            await manager.__aexit__(type(exc), exc, exc.__traceback__)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        raise TypeError(
            f"session(lazy=True): context.session is an awaitable; use "
            f"(await context.session).{name}"
        )

    def __getitem__(self, key: object) -> Any:
        raise TypeError(
            f"session(lazy=True): context.session is an awaitable; use "
            f"(await context.session)[{key!r:.60}]"
        )


class Sessions:
    """Sessions by storage key, outside an update: ``middleware.sessions``.

    A key is a ``str`` or a ``{user, chat, thread, key}`` mapping, as ``get_storage_key``
    returns (``by_user_in_chat`` keys are ``{"user": 42, "chat": -100}``).
    """

    __slots__ = ("_middleware",)

    def __init__(self, middleware: SessionMiddleware) -> None:
        self._middleware = middleware

    def _key(self, key: object, where: str) -> str:
        if key is None:
            raise TypeError(f"sessions.{where}(key): key must be a str or a mapping, got None")
        text = _storage_key(key, f"sessions.{where}(key)")
        if not text:
            raise ValueError(f"sessions.{where}(key): the key is empty, and so no session")
        return text

    async def get(self, key: str | Mapping[str, Any]) -> dict[str, Any] | None:
        """A copy of the session at ``key`` as a ``dict`` (expired ttl keys left out), or
        ``None`` when there is none. One read: no lease or lock, the ttl is not rolled,
        and changing the copy changes nothing."""
        key = self._key(key, "get")
        middleware = self._middleware
        raw = await middleware._read_record(key, middleware._storage.get)
        if raw is None:
            return None
        _, record = _copy_stored(key, raw)
        meta = record.pop(TTL_KEY, None)
        current = Session(record, read_meta(meta, record) if meta else {}, middleware._clock)
        return dict(current._data) if current._data else None

    def edit(self, key: str | Mapping[str, Any]) -> AbstractAsyncContextManager[Session]:
        """``async with middleware.sessions.edit(key) as s:``: the ``Session`` at ``key``
        (empty when there is none; ``initial`` is not called, it needs an update), under
        the same lease or lock as an update, saved on leaving the block as after a
        handler. An exception inside the block saves nothing and propagates (``handled``
        is for handlers: it does not apply here)."""
        key = self._key(key, "edit")
        return self._middleware._open(key, None, _itself, ())


def _itself(current: Session) -> Session:
    return current
