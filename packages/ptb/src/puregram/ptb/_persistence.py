"""``StoragePersistence``: python-telegram-bot's ``BasePersistence`` over a puregram store."""

from __future__ import annotations

import json
from typing import Any

from telegram.ext import Application, BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from puregram.storage import (
    KVStorage,
    NamespacedStorage,
    check_text,
    encode_value,
    is_iterable_storage,
    namespaced,
)

__all__ = ["PersistEveryUpdate", "StoragePersistence"]

JsonDict = dict[str, Any]


def _check_json(label: str, data: object) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``label`` (and the top-level key of a
    dict that holds the offending value) when ``data`` is not JSON."""
    try:
        encode_value(label, data)
    except (TypeError, ValueError) as exc:
        if isinstance(data, dict):
            for key, value in data.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"{label}: key {key!r} is a {type(key).__name__}; JSON object keys are str"
                    ) from exc
                try:
                    encode_value(label, value)
                except (TypeError, ValueError) as inner:
                    raise type(inner)(f"{label}, key {key!r}: {inner}") from exc
        raise


def _check_dict(label: str, data: object) -> JsonDict:
    if not isinstance(data, dict):
        raise TypeError(
            f"{label} must be a dict (StoragePersistence stores JSON objects), "
            f"got {type(data).__name__}"
        )
    _check_json(label, data)
    return data


def _encode_conversation_key(name: str, key: ConversationKey) -> str:
    """``["name",chat,user]``: a JSON array, so str and int parts read back as they were,
    and one conversation's keys are those starting with ``["name",``."""
    return json.dumps([name, *key], ensure_ascii=False, separators=(",", ":"))


def _conversation_prefix(name: str) -> str:
    return json.dumps([name], ensure_ascii=False, separators=(",", ":"))[:-1] + ","


def _decode_conversation_key(name: str, text: str) -> ConversationKey | None:
    try:
        parts = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parts, list) or not parts or parts[0] != name:
        return None
    if not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in parts[1:]):
        return None
    return tuple(parts[1:])


class StoragePersistence(BasePersistence[JsonDict, JsonDict, JsonDict]):
    """PTB persistence over any iterable puregram store (Redis, SQLite, Postgres, memory).

    Every ``update_*``/``drop_*`` call is one write to the store, at once (write-through);
    ``get_*`` reads the store. ``refresh=True`` re-reads a user's, a chat's and the bot's
    data from the store before each update, so several bot processes on one store see
    each other's writes. Layout: see the README. Data must be JSON (dicts with ``str``
    keys); anything else raises ``TypeError``/``ValueError`` naming the user or chat id
    and the key, and nothing is written.
    """

    def __init__(
        self,
        storage: KVStorage[Any],
        *,
        prefix: str = "ptb:",
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
        refresh: bool = False,
    ) -> None:
        if not is_iterable_storage(storage):
            raise TypeError(
                "StoragePersistence needs a store that lists its keys (an IterableStorage); "
                f"{type(storage).__name__} has no keys()"
            )
        prefix = check_text("prefix", prefix, owner="StoragePersistence")
        if not isinstance(refresh, bool):
            raise TypeError(
                f"StoragePersistence option 'refresh' must be a bool, got {type(refresh).__name__}"
            )
        super().__init__(store_data=store_data, update_interval=update_interval)
        self._storage = storage
        self._prefix = prefix
        root: KVStorage[Any] = namespaced(storage, prefix) if prefix else storage
        self._root = root
        self._users = namespaced(root, "user_data:")
        self._chats = namespaced(root, "chat_data:")
        self._conversations = namespaced(root, "conversations:")
        self._refresh = refresh
        # bot_data and callback_data are handed over on every update_persistence(); an
        # unchanged one is not written again (compared as JSON text).
        self._written: dict[str, str] = {}

    @property
    def storage(self) -> KVStorage[Any]:
        """The store the data lives in."""
        return self._storage

    @property
    def prefix(self) -> str:
        """The prefix of every key this persistence writes."""
        return self._prefix

    @property
    def refresh(self) -> bool:
        """Whether data is re-read from the store before each update."""
        return self._refresh

    def __repr__(self) -> str:
        return f"StoragePersistence({self._storage!r}, prefix={self._prefix!r})"

    async def _load_ids(self, view: NamespacedStorage[Any]) -> dict[int, JsonDict]:
        listing: Any = view
        loaded: dict[int, JsonDict] = {}
        async for key, value in listing.entries():
            try:
                ident = int(key)
            except ValueError:
                continue  # not written by us: a key under the prefix that is not an id
            if isinstance(value, dict):
                loaded[ident] = value
        return loaded

    async def get_user_data(self) -> dict[int, JsonDict]:
        """Every stored user's data: one listing of the ``user_data:`` namespace."""
        return await self._load_ids(self._users)

    async def get_chat_data(self) -> dict[int, JsonDict]:
        """Every stored chat's data: one listing of the ``chat_data:`` namespace."""
        return await self._load_ids(self._chats)

    async def get_bot_data(self) -> JsonDict:
        stored = await self._root.get("bot_data")
        return self._seen("bot_data", stored) if isinstance(stored, dict) else {}

    def _seen(self, key: str, stored: JsonDict) -> JsonDict:
        self._written[key] = encode_value(key, stored)
        return stored

    async def get_callback_data(self) -> CDCData | None:
        stored = await self._root.get("callback_data")
        if not isinstance(stored, list) or len(stored) != 2:
            return None
        queries, mapping = stored
        return [(str(q[0]), float(q[1]), dict(q[2])) for q in queries], dict(mapping)

    async def get_conversations(self, name: str) -> ConversationDict:
        """The states of conversation ``name``: one listing of its keys."""
        listing: Any = self._conversations
        found: dict[ConversationKey, object] = {}
        async for text, state in listing.entries(prefix=_conversation_prefix(name)):
            key = _decode_conversation_key(name, text)
            if key is not None:
                found[key] = state
        return found

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        stored = _encode_conversation_key(name, key)
        if new_state is None:
            await self._conversations.delete(stored)
            return
        _check_json(f"conversation {name!r} state of {list(key)!r}", new_state)
        await self._conversations.set(stored, new_state)

    async def update_user_data(self, user_id: int, data: JsonDict) -> None:
        await self._users.set(str(user_id), _check_dict(f"user_data of user {user_id}", data))

    async def update_chat_data(self, chat_id: int, data: JsonDict) -> None:
        await self._chats.set(str(chat_id), _check_dict(f"chat_data of chat {chat_id}", data))

    async def update_bot_data(self, data: JsonDict) -> None:
        """Write ``bot_data``, unless it equals what this instance last wrote or read."""
        await self._set_once("bot_data", _check_dict("bot_data", data))

    async def update_callback_data(self, data: CDCData) -> None:
        """Write the callback data cache, unless it equals what was last written."""
        queries, mapping = data
        await self._set_once("callback_data", [[list(query) for query in queries], mapping])

    async def _set_once(self, key: str, value: Any) -> None:
        text = encode_value(key, value)  # raises, naming the key, for what JSON cannot hold
        if self._written.get(key) != text:
            await self._root.set(key, value)
            self._written[key] = text

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._chats.delete(str(chat_id))

    async def drop_user_data(self, user_id: int) -> None:
        await self._users.delete(str(user_id))

    async def refresh_user_data(self, user_id: int, user_data: JsonDict) -> None:
        """With ``refresh=True``: replace ``user_data`` in place with the stored data."""
        if self._refresh:
            _replace(user_data, await self._users.get(str(user_id)))

    async def refresh_chat_data(self, chat_id: int, chat_data: JsonDict) -> None:
        """With ``refresh=True``: replace ``chat_data`` in place with the stored data."""
        if self._refresh:
            _replace(chat_data, await self._chats.get(str(chat_id)))

    async def refresh_bot_data(self, bot_data: JsonDict) -> None:
        """With ``refresh=True``: replace ``bot_data`` in place with the stored data."""
        if self._refresh:
            stored = await self._root.get("bot_data")
            if isinstance(stored, dict):
                self._seen("bot_data", stored)
            _replace(bot_data, stored)

    async def flush(self) -> None:
        """Nothing to do: every write already reached the store."""


def _replace(target: JsonDict, stored: object) -> None:
    target.clear()
    if isinstance(stored, dict):
        target.update(stored)


class PersistEveryUpdate(Application):  # type: ignore[type-arg]
    """An ``Application`` that hands its data to the persistence after every update.

    PTB itself persists every ``update_interval`` seconds (and on shutdown); with
    ``ApplicationBuilder().application_class(PersistEveryUpdate)`` each
    ``process_update`` ends with ``update_persistence()``: the users, chats and
    conversations the update touched are written before the next update of the same
    user is processed, so a crash loses nothing and other processes see it. An update
    stopped with ``ApplicationHandlerStop`` is persisted too.
    """

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if self.persistence is not None:
                await self.update_persistence()
