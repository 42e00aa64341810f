"""``Session``: the mutable mapping a handler sees as ``context.session``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from ._ttl import TTL_KEY, Ttl

__all__ = ["Session"]

Clock = Callable[[], int]

_SLOTS = frozenset(("_clock", "_data", "_meta"))


class Session(MutableMapping[str, Any]):
    """A ``dict``-like session that also allows attribute access.

    ``session.counter += 1`` and ``session["counter"] += 1`` do the same thing. A name
    that is a method of this class (``get``, ``items``, ``update``, ...) is only
    reachable as ``session["items"]``. Keys are ``str``; ``"__ttl"`` is reserved.

    A key assigned through ``ttl()`` disappears once its time is up: reads, ``in``,
    ``len`` and iteration all check the clock, so it vanishes mid-update too.
    """

    __slots__ = ("_clock", "_data", "_meta")

    _data: dict[str, Any]
    _meta: dict[str, dict[str, float]]
    _clock: Clock

    def __init__(
        self, data: dict[str, Any], meta: dict[str, dict[str, float]], clock: Clock
    ) -> None:
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_meta", meta)
        object.__setattr__(self, "_clock", clock)
        if meta:
            self._expire_all()

    # -- expiry ---------------------------------------------------------------------------

    def _expired(self, key: str, now: float) -> bool:
        # Strictly later than ``t``, as @puregram/session: a key with ``t`` 1000 set at
        # ``at`` is still there at ``at + 1000`` and gone at ``at + 1001``.
        entry = self._meta[key]
        return now - entry["at"] > entry["t"]

    def _expire_key(self, key: str) -> None:
        if self._expired(key, self._clock()):
            del self._meta[key]
            self._data.pop(key, None)

    def _expire_all(self) -> None:
        now = self._clock()
        for key in [key for key in self._meta if self._expired(key, now)]:
            del self._meta[key]
            self._data.pop(key, None)

    # -- the mapping ------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if self._meta and key in self._meta:
            self._expire_key(key)
        return self._data[key]

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
                meta[key] = {"t": ms, "at": self._clock()}
            else:
                meta.pop(key, None)
        elif meta and key in meta:
            # Every assignment restarts the clock, even when the value is the same.
            meta[key] = {"t": meta[key]["t"], "at": self._clock()}
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        if self._meta and key in self._meta:
            self._expire_key(key)
            self._meta.pop(key, None)
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        if self._meta and key in self._meta:
            self._expire_key(key)
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        if self._meta:
            self._expire_all()
        return iter(self._data)

    def __len__(self) -> int:
        if self._meta:
            self._expire_all()
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
        self._meta.clear()

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
            return self._data[name]
        except KeyError:
            raise AttributeError(f"the session has no key {name!r}") from None

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
        live = {key: entry for key, entry in meta.items() if key in data}
        return {**data, TTL_KEY: live} if live else data


# Names an attribute assignment must not turn into session keys: methods, slots, dunders.
_CLASS_NAMES = frozenset(dir(Session))
