"""``Session``: the mutable mapping a handler sees as ``context.session``."""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from puregram.storage import CorruptValueError

from ._ttl import TTL_KEY, Ttl

__all__ = ["Session"]

Clock = Callable[[], int]

_SLOTS = frozenset(("_before", "_clock", "_data", "_heap", "_key", "_meta", "_pending"))

# Plain JSON text of a value read from the store: the copy a handler gets is decoded from
# it, and it is what the value is compared with after the handler. The C encoder and the
# C scanner alone (``json.loads`` adds two regex scans); the checks of the core's
# ``encode_value`` run on what is saved, not on what was read.
_encode_text: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


def _not_json(value: object) -> None:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


# The C encoder itself, built once: ``JSONEncoder.encode`` builds one per call, which
# costs as much as encoding a small value. No circular check (a cycle is a
# ``RecursionError`` here; the core's ``encode_value``, which saves, names it).
_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_c_strings: Any = getattr(json.encoder, "c_encode_basestring", None)
_text: Callable[[Any], str]
if _c_encoder is not None and _c_strings is not None:
    _chunks = _c_encoder(None, _not_json, _c_strings, None, ":", ",", False, False, False)

    def _text(value: Any) -> str:
        return "".join(_chunks(value, 0))

else:  # pragma: no cover - a Python without the _json accelerator
    _text = _encode_text
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
SCALARS = frozenset((str, int, float, bool, type(None)))
"""What a session never copies: immutable JSON values."""


class Session(MutableMapping[str, Any]):
    """A ``dict``-like session that also allows attribute access.

    ``session.counter += 1`` and ``session["counter"] += 1`` do the same thing. A name
    that is a method of this class (``get``, ``items``, ``update``, ...) is only
    reachable as ``session["items"]``. Keys are ``str``; ``"__ttl"`` is reserved.

    A key assigned through ``ttl()`` disappears once its time is up: reads, ``in``,
    ``len`` and iteration all check the clock, so it vanishes mid-update too.

    A session loaded from the store copies a value only when the handler first reads it
    (``_pending`` holds the keys whose value is still the store's, ``_before`` the JSON
    text each non-scalar value had when it was read from the store), so an update that
    reads one key of a large session copies and compares that key only. Expiry deadlines
    sit in a heap (``_heap``), so ``len`` and iteration check the clock in O(1) when
    nothing is due.
    """

    __slots__ = ("_before", "_clock", "_data", "_heap", "_key", "_meta", "_pending")

    _data: dict[str, Any]
    _meta: dict[str, dict[str, float]]
    _clock: Clock
    _pending: set[str]
    _before: dict[str, str] | None
    _heap: list[tuple[float, str]]
    _key: str

    def __init__(
        self, data: dict[str, Any], meta: dict[str, dict[str, float]], clock: Clock
    ) -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_meta", meta)
        object.__setattr__(self, "_clock", clock)
        object.__setattr__(self, "_pending", set())
        object.__setattr__(self, "_before", None)
        object.__setattr__(self, "_heap", [])
        object.__setattr__(self, "_key", "")
        if meta:
            self._rebuild_heap()
            self._expire_due()

    @classmethod
    def _loaded(
        cls,
        key: str,
        stored: dict[str, Any],
        texts: dict[str, str],
        meta: dict[str, dict[str, float]],
        clock: Clock,
    ) -> Session:
        """A session over a record read from the store, which it never changes: the values
        stay the store's until the handler reads them. ``texts`` holds the JSON text of
        every non-scalar value of ``stored`` (which has no ``"__ttl"``)."""
        current = cls(dict(stored), meta, clock)
        pending = set(texts)
        pending.discard("__ttl")
        object.__setattr__(current, "_pending", pending)
        object.__setattr__(current, "_before", texts)
        object.__setattr__(current, "_key", key)
        return current

    def _adopt(self, key: str, value: Any) -> Any:
        """The handler's own copy of the store's ``value`` at ``key``, from now on."""
        assert self._before is not None
        try:
            copied = _scan(self._before[key], 0)[0]
        except RecursionError:
            raise CorruptValueError(self._key, "the session is nested too deeply to read") from None
        self._pending.discard(key)
        self._data[key] = copied
        return copied

    # -- expiry ---------------------------------------------------------------------------

    def _expired(self, key: str, now: float) -> bool:
        # Strictly later than ``t``, as @puregram/session: a key with ``t`` 1000 set at
        # ``at`` is still there at ``at + 1000`` and gone at ``at + 1001``.
        entry = self._meta[key]
        return now - entry["at"] > entry["t"]

    def _expire_key(self, key: str) -> None:
        if self._expired(key, self._clock()):
            del self._meta[key]
            self._drop(key)

    def _drop(self, key: str) -> None:
        self._data.pop(key, None)
        self._pending.discard(key)

    def _rebuild_heap(self) -> None:
        heap = [(entry["at"] + entry["t"], key) for key, entry in self._meta.items()]
        heapq.heapify(heap)
        object.__setattr__(self, "_heap", heap)

    def _schedule(self, key: str, entry: dict[str, float]) -> None:
        heap = self._heap
        heapq.heappush(heap, (entry["at"] + entry["t"], key))
        if len(heap) > 2 * len(self._meta) + 64:  # stale entries of reassigned keys
            self._rebuild_heap()

    def _expire_due(self) -> None:
        """Drop every key whose time is up: O(1) when none is due (the heap's top is
        later than now), O(log n) per key dropped or stale entry popped."""
        heap = self._heap
        now = self._clock()
        meta = self._meta
        while heap and heap[0][0] < now:
            deadline, key = heapq.heappop(heap)
            entry = meta.get(key)
            if entry is None or entry["at"] + entry["t"] != deadline:
                continue  # stale: the key was reassigned, deleted or un-ttl'd since
            if self._expired(key, now):
                del meta[key]
                self._drop(key)
            else:  # rounding of a fractional t or at: not yet, by the exact rule
                heapq.heappush(heap, (deadline, key))
                break

    def _expire_all(self) -> None:
        if self._heap:
            self._expire_due()

    # -- the mapping ------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if self._meta and key in self._meta:
            self._expire_key(key)
        value = self._data[key]
        if self._pending and key in self._pending:
            return self._adopt(key, value)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if type(key) is not str:
            if not isinstance(key, str):
                raise TypeError(f"session keys must be str, got {type(key).__name__}: {key!r}")
            key = str(key)
        if key == TTL_KEY:
            raise ValueError(f"session key {TTL_KEY!r} is reserved for ttl metadata")
        meta = self._meta
        if type(value) is Ttl:
            value, ms = value.value, value.ms
            if ms:
                entry = meta[key] = {"t": ms, "at": self._clock()}
                self._schedule(key, entry)
            else:
                meta.pop(key, None)
        elif meta and key in meta:
            # Every assignment restarts the clock, even when the value is the same.
            entry = meta[key] = {"t": meta[key]["t"], "at": self._clock()}
            self._schedule(key, entry)
        if self._pending:
            self._pending.discard(key)
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        if self._meta and key in self._meta:
            self._expire_key(key)
            self._meta.pop(key, None)
        del self._data[key]
        if self._pending:
            self._pending.discard(key)

    def __contains__(self, key: object) -> bool:
        if self._meta and key in self._meta:
            self._expire_key(key)
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        if self._heap:
            self._expire_due()
        return iter(self._data)

    def __len__(self) -> int:
        if self._heap:
            self._expire_due()
        return len(self._data)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last ``(key, value)`` pair, as ``dict.popitem`` does;
        ``KeyError`` when the session is empty. O(1)."""
        if self._heap:
            self._expire_due()  # what is left is live
        try:
            key, value = self._data.popitem()
        except KeyError:
            raise KeyError("popitem(): the session is empty") from None
        if self._pending and key in self._pending:
            self._pending.discard(key)
            assert self._before is not None
            value = _scan(self._before[key], 0)[0]  # the store's: the caller gets a copy
        if self._meta:
            self._meta.pop(key, None)
        return key, value

    def clear(self) -> None:
        self._data.clear()
        self._meta.clear()
        self._pending.clear()
        self._heap.clear()

    def __repr__(self) -> str:
        return f"Session({dict(self.items())!r})"

    # -- attribute access ---------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails. Dunder names are Python protocols
        # (copy, pickle, ...), never session keys; a slot is missing only while copy or
        # pickle rebuilds the object.
        if name[:1] == "_" and (name in _SLOTS or (name[:2] == "__" and name[-2:] == "__")):
            raise AttributeError(name)
        meta = self._meta
        if meta and name in meta:
            self._expire_key(name)
        try:
            value = self._data[name]
        except KeyError:
            raise AttributeError(f"the session has no key {name!r}") from None
        if self._pending and name in self._pending:
            return self._adopt(name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CLASS_NAMES:
            if name in _SLOTS:  # copy and pickle restore the slots by setattr
                object.__setattr__(self, name, value)
                return
            raise AttributeError(
                f"{name!r} is a Session method or slot; use session[{name!r}] = ..."
            )
        self[name] = value

    def __delattr__(self, name: str) -> None:
        if name in _CLASS_NAMES:
            raise AttributeError(f"{name!r} is a Session method or slot; use del session[{name!r}]")
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"the session has no key {name!r}") from None

    # -- for the middleware -------------------------------------------------------------------

    def _record(self) -> dict[str, Any]:
        """The record to store: the data, plus ``"__ttl"`` for keys that still expire.

        Returns the live data dict when there is no metadata; the caller encodes it.
        """
        meta = self._meta
        if not meta:
            return self._data
        self._expire_all()
        data = self._data
        live = self._live_meta()
        return {**data, TTL_KEY: live} if live else data

    def _live_meta(self) -> dict[str, dict[str, float]]:
        data = self._data
        return {key: entry for key, entry in self._meta.items() if key in data}

    def _owned(self) -> list[str]:
        """The keys whose value is the handler's (copied or assigned), not the store's,
        for a session made by ``_loaded``."""
        pending = self._pending
        return [key for key in self._data if key not in pending]


# Names an attribute assignment must not turn into session keys: methods, slots, dunders.
_CLASS_NAMES = frozenset(dir(Session))
