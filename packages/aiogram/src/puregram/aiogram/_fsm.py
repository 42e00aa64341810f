"""``FsmStorage``: aiogram's FSM storage over any puregram ``KVStorage``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, KeyBuilder, StateType, StorageKey

from puregram.storage import (
    ForeignValueError,
    KVStorage,
    LruMemoryStorage,
    MemoryStorage,
    decode_value,
    encode_value,
    is_get_touch_storage,
    is_ttl_storage,
)

from ._keys import FsmKeyBuilder

if TYPE_CHECKING:
    from ._isolation import EventIsolation

__all__ = ["FsmStorage"]

_JSON_KINDS: dict[type, str] = {
    dict: "a JSON object",
    list: "a JSON array",
    str: "a JSON string",
    int: "a JSON number",
    float: "a JSON number",
    bool: "a JSON boolean",
}


def _kind(value: object) -> str:
    return "a JSON null" if value is None else _JSON_KINDS.get(type(value), type(value).__name__)


def _by_reference(storage: object) -> bool:
    """Whether ``storage`` keeps values by reference: a memory store, or a wrapper
    (``enhance_storage``) over one."""
    for _ in range(8):  # wrappers of wrappers, never a loop
        if isinstance(storage, MemoryStorage | LruMemoryStorage):
            return True
        storage = getattr(storage, "base", None)
        if storage is None:
            return False
    return False


class FsmStorage(BaseStorage):
    """aiogram's ``BaseStorage`` over a puregram store: ``Dispatcher(storage=FsmStorage(
    SqliteStorage.open("bot.db")))``.

    State and data live under two keys, as in aiogram's ``RedisStorage``:
    ``key_builder.build(key, "state")`` holds the state name as a JSON string and
    ``key_builder.build(key, "data")`` the data as a JSON object. Setting the state to
    ``None`` deletes its key, and so does setting empty data. Each call is one store
    call (``get_state`` two on a ttl store when the user has a state: it also rolls the
    data's ttl).

    - ``key_builder``: any aiogram ``KeyBuilder`` (default ``FsmKeyBuilder()``: aiogram's
      ``DefaultKeyBuilder`` keys, with room for aiogram_dialog's destinies).
    - ``copy``: keep a JSON copy rather than the caller's dict; ``None`` (default) means
      "when the store keeps values by reference" (``MemoryStorage``,
      ``LruMemoryStorage``, ``enhance_storage`` over one), so a handler never changes
      stored data in place and data JSON cannot hold fails on every store alike.
    - ``close_storage``: ``close()`` (aiogram calls it at shutdown) also closes the store
      when it has an async ``close`` (``SqliteStorage``); default true.

    Over a ``TtlStorage`` with a ttl (``RedisStorage(ttl_ms=...)``, ``SqliteStorage(
    ttl_ms=...)``) the ttl slides: every read rolls it forward (``get_and_touch``).
    A stored value of the wrong kind (a state that is not a string, data that is not an
    object) raises ``ForeignValueError`` naming the key, and is left as it was.
    """

    def __init__(
        self,
        storage: KVStorage[Any],
        *,
        key_builder: KeyBuilder | None = None,
        copy: bool | None = None,
        close_storage: bool = True,
    ) -> None:
        if not all(
            callable(getattr(storage, name, None)) for name in ("get", "set", "delete", "has")
        ):
            raise TypeError(
                "FsmStorage(storage) must be a puregram KVStorage (get, set, delete, has), "
                f"got {type(storage).__name__}"
            )
        if key_builder is None:
            key_builder = FsmKeyBuilder()
        elif not isinstance(key_builder, KeyBuilder):
            raise TypeError(
                "FsmStorage option 'key_builder' must be an aiogram KeyBuilder, "
                f"got {type(key_builder).__name__}"
            )
        if copy is not None and not isinstance(copy, bool):
            raise TypeError(f"FsmStorage option 'copy' must be a bool or None, got {copy!r:.60}")
        if not isinstance(close_storage, bool):
            raise TypeError(
                f"FsmStorage option 'close_storage' must be a bool, got {close_storage!r:.60}"
            )
        self.storage = storage
        self.key_builder = key_builder
        self._copy = _by_reference(storage) if copy is None else copy
        self._close_storage = close_storage
        self._build = key_builder.build
        self._read: Callable[[str], Awaitable[Any]] = (
            storage.get_and_touch if is_get_touch_storage(storage) else storage.get
        )
        # Rolling the data's ttl from get_state: only on a store that may have one (a
        # store that says it has no ttl, ``ttl_ms is None``, is spared the call).
        self._touch: Callable[[str], Awaitable[None]] | None = (
            storage.touch
            if is_ttl_storage(storage) and getattr(storage, "ttl_ms", 0) is not None
            else None
        )
        self._set = storage.set
        self._delete = storage.delete

    def __repr__(self) -> str:
        return f"FsmStorage({self.storage!r})"

    def create_isolation(self, **options: Any) -> EventIsolation:
        """An ``EventIsolation`` over the same store and key builder (``lease_ms=`` goes
        through): ``Dispatcher(storage=fsm, events_isolation=fsm.create_isolation())``."""
        from ._isolation import EventIsolation

        return EventIsolation(self.storage, key_builder=self.key_builder, **options)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Store the state's name (one ``set``), or delete it for ``None`` (one ``delete``)."""
        name = self._build(key, "state")
        value = state.state if isinstance(state, State) else state
        if value is None:
            await self._delete(name)
        elif isinstance(value, str):
            await self._set(name, str(value))
        else:
            raise TypeError(
                f"FsmStorage.set_state: the state at {name!r} must be a State, a str or None, "
                f"got {type(value).__name__}"
            )

    async def get_state(self, key: StorageKey) -> str | None:
        """The state's name or ``None``: one read (``get_and_touch`` on a ttl store, and
        then a ``touch`` of the data when there is a state)."""
        name = self._build(key, "state")
        value = await self._read(name)
        if value is None:
            return None
        if value.__class__ is not str:
            raise ForeignValueError(name, f"is {_kind(value)}, not an FSM state (a JSON string)")
        if self._touch is not None:
            await self._touch(self._build(key, "data"))
        return value

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replace the data (one ``set``); empty data deletes the key (one ``delete``).

        Data that is not a mapping raises aiogram's ``DataNotDictLikeError``; a value
        JSON cannot hold a ``TypeError``/``ValueError`` naming the key. Either way the
        store is unchanged."""
        name = self._build(key, "data")
        if data.__class__ is not dict and not isinstance(data, Mapping):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__} "
                f"(FSM data at {name!r})"
            )
        if not data:
            await self._delete(name)
            return
        if self._copy:
            await self._set(name, decode_value(name, encode_value(name, data)))
        else:
            await self._set(name, data if data.__class__ is dict else dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """The data, or ``{}``: one read (``get_and_touch`` on a ttl store). The dict is
        the caller's own: changing it changes nothing stored."""
        name = self._build(key, "data")
        value = await self._read(name)
        if value is None:
            return {}
        if value.__class__ is not dict:
            raise ForeignValueError(name, f"is {_kind(value)}, not FSM data (a JSON object)")
        if self._copy:
            return decode_value(name, encode_value(name, value))  # type: ignore[no-any-return]
        return value

    async def close(self) -> None:
        """Close the store, when ``close_storage`` and it has ``close``; safe twice."""
        if self._close_storage:
            close = getattr(self.storage, "close", None)
            if callable(close):
                result = close()
                if hasattr(result, "__await__"):
                    await result
