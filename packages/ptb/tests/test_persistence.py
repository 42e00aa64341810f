"""``StoragePersistence`` driven by a real ``Application`` (PTB's own persistence flow)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from ptb_fakes import FakeRequest, build_app, message
from telegram.ext import PersistenceInput

from puregram.ptb import StoragePersistence
from puregram.storage import KVStorage, MemoryStorage
from puregram.storage_sqlite import SqliteStorage

pytestmark = pytest.mark.anyio


async def run(persistence: StoragePersistence, *texts: str, user: int = 42) -> list[str]:
    """Start the test bot, process ``texts`` from ``user``, stop it; the bot's replies."""
    request = FakeRequest()
    app = build_app(persistence, request)
    async with app:
        for text in texts:
            await app.process_update(message(app, text, user=user))
    replies: list[str] = request.replies()
    return replies


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStorage[Any]]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    with closing(sqlite3.connect(tmp_path / "bot.db")) as db:
        yield SqliteStorage(db=db)


async def test_data_survives_a_new_application(storage: KVStorage[Any]) -> None:
    assert await run(StoragePersistence(storage), "/count", "/count") == [
        "count 1 seen 1 total 1",
        "count 2 seen 2 total 2",
    ]
    assert await run(StoragePersistence(storage), "/count") == ["count 3 seen 3 total 3"]
    assert await run(StoragePersistence(storage), "/count", user=7) == ["count 1 seen 1 total 4"]


async def test_the_stored_layout(storage: KVStorage[Any]) -> None:
    await run(StoragePersistence(storage), "/count", "/order", user=42)
    assert await storage.get("ptb:user_data:42") == {"count": 1, "group_1": 2}
    assert await storage.get("ptb:chat_data:42") == {"seen": 1}
    assert await storage.get("ptb:bot_data") == {"total": 1}
    assert await storage.get('ptb:conversations:["order",42,42]') == 1


async def test_writes_land_after_each_update(storage: KVStorage[Any]) -> None:
    request = FakeRequest()
    app = build_app(StoragePersistence(storage), request)
    async with app:
        await app.process_update(message(app, "/count", user=5))
        # The application is still running: no shutdown flush has happened yet.
        assert await storage.get("ptb:user_data:5") == {"count": 1, "group_1": 1}


async def test_a_conversation_survives_a_restart(storage: KVStorage[Any]) -> None:
    assert await run(StoragePersistence(storage), "/order") == ["what would you like?"]
    assert await run(StoragePersistence(storage), "pizza") == ["ordered pizza"]
    assert await storage.get('ptb:conversations:["order",42,42]') is None  # ended: deleted
    assert (await storage.get("ptb:user_data:42") or {})["ordered"] == "pizza"


async def test_application_handler_stop_keeps_the_change(storage: KVStorage[Any]) -> None:
    await run(StoragePersistence(storage), "/stop", "/stop")
    stored = await storage.get("ptb:user_data:42")
    assert stored == {"stopped": 2}  # and group 1 never ran


async def test_refresh_reads_what_another_instance_wrote(storage: KVStorage[Any]) -> None:
    one = build_app(StoragePersistence(storage, refresh=True), FakeRequest())
    two_request = FakeRequest()
    two = build_app(StoragePersistence(storage, refresh=True), two_request)
    async with one, two:
        await one.process_update(message(one, "/count", user=9))
        await two.process_update(message(two, "/count", user=9))
        await one.process_update(message(one, "/count", user=9))
    assert two_request.replies() == ["count 2 seen 2 total 2"]
    assert await storage.get("ptb:user_data:9") == {"count": 3, "group_1": 3}


async def test_without_refresh_a_running_application_keeps_its_own_copy(
    storage: KVStorage[Any],
) -> None:
    one = build_app(StoragePersistence(storage), FakeRequest())
    two_request = FakeRequest()
    two = build_app(StoragePersistence(storage), two_request)
    async with one, two:
        await one.process_update(message(one, "/count", user=9))
        await two.process_update(message(two, "/count", user=9))
    assert two_request.replies() == ["count 1 seen 1 total 1"]


async def test_persistence_input_is_honoured(storage: KVStorage[Any]) -> None:
    store_data = PersistenceInput(chat_data=False, bot_data=False)
    await run(StoragePersistence(storage, store_data=store_data), "/count")
    assert await storage.get("ptb:user_data:42") == {"count": 1, "group_1": 1}
    assert not await storage.has("ptb:chat_data:42")
    assert not await storage.has("ptb:bot_data")


async def test_a_custom_prefix(storage: KVStorage[Any]) -> None:
    await run(StoragePersistence(storage, prefix="bot2:"), "/count")
    assert await storage.get("bot2:user_data:42") == {"count": 1, "group_1": 1}
    assert not await storage.has("ptb:user_data:42")


async def test_data_that_is_not_json_names_the_user_and_the_key() -> None:
    persistence = StoragePersistence(MemoryStorage())
    with pytest.raises(TypeError, match=r"user_data of user 42, key 'tags'.*set"):
        await persistence.update_user_data(42, {"ok": 1, "tags": {"a"}})
    with pytest.raises(TypeError, match=r"chat_data of chat -100: key 7 is a int"):
        await persistence.update_chat_data(-100, {7: "int key"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"bot_data, key 'x'.*nan"):
        await persistence.update_bot_data({"x": float("nan")})
    with pytest.raises(TypeError, match=r"conversation 'order' state of \[1, 2\]"):
        await persistence.update_conversation("order", (1, 2), object())
    assert await persistence.get_user_data() == {}
    assert await persistence.get_chat_data() == {}


async def test_a_handler_storing_a_set_is_reported_and_writes_nothing() -> None:
    storage = MemoryStorage[Any]()
    persistence = StoragePersistence(storage)
    errors: list[BaseException] = []
    request = FakeRequest()
    app = build_app(persistence, request)

    async def on_error(update: object, context: Any) -> None:
        errors.append(context.error)

    app.add_error_handler(on_error)
    async with app:
        app.user_data[3]["bad"] = {1, 2}
        await app.process_update(message(app, "/count", user=3))
    assert "user_data of user 3, key 'bad'" in str(errors[0])
    assert not await storage.has("ptb:user_data:3")


async def test_conversation_keys_round_trip_str_and_int_parts() -> None:
    persistence = StoragePersistence(MemoryStorage())
    keys: list[tuple[str | int, ...]] = [(1, 2), (-100, 5, 9), ("inline", 3), ('a,"b]', -1)]
    for index, key in enumerate(keys):
        await persistence.update_conversation("order", key, index)
    await persistence.update_conversation("order:2", (1, 2), "other conversation")
    await persistence.update_conversation('order",', (1, 2), "look-alike name")
    assert await persistence.get_conversations("order") == {k: i for i, k in enumerate(keys)}
    assert await persistence.get_conversations("order:2") == {(1, 2): "other conversation"}
    await persistence.update_conversation("order", (1, 2), None)
    assert (1, 2) not in await persistence.get_conversations("order")


async def test_callback_data_round_trips() -> None:
    persistence = StoragePersistence(MemoryStorage())
    data = ([("uuid-1", 1700000000.5, {"button": "yes"})], {"query-1": "uuid-1"})
    await persistence.update_callback_data(data)
    assert await persistence.get_callback_data() == data


async def test_dropping_user_and_chat_data_deletes_the_records() -> None:
    storage = MemoryStorage[Any]()
    persistence = StoragePersistence(storage)
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_chat_data(2, {"b": 2})
    await persistence.drop_user_data(1)
    await persistence.drop_chat_data(2)
    assert storage.size == 0


async def test_an_unchanged_bot_data_is_not_written_again() -> None:
    storage = MemoryStorage[Any]()
    persistence = StoragePersistence(storage)
    await persistence.update_bot_data({"a": 1})
    await storage.delete("ptb:bot_data")  # were it written again, it would come back
    await persistence.update_bot_data({"a": 1})
    assert not await storage.has("ptb:bot_data")
    await persistence.update_bot_data({"a": 2})
    assert await storage.get("ptb:bot_data") == {"a": 2}


async def test_keys_under_the_prefix_that_are_not_ids_are_skipped() -> None:
    storage = MemoryStorage[Any]({"ptb:user_data:not-an-id": {"x": 1}, "ptb:user_data:5": {}})
    assert await StoragePersistence(storage).get_user_data() == {5: {}}


class PlainStore:
    async def get(self, key: str) -> Any:
        return None

    async def set(self, key: str, value: Any) -> None:
        pass

    async def delete(self, key: str) -> None:
        pass

    async def has(self, key: str) -> bool:
        return False


def test_a_store_that_cannot_list_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="StoragePersistence needs a store that lists its keys"):
        StoragePersistence(PlainStore())


@pytest.mark.parametrize(
    ("options", "kind", "match"),
    [
        ({"prefix": 1}, TypeError, "StoragePersistence option 'prefix' must be a str"),
        ({"refresh": "yes"}, TypeError, "StoragePersistence option 'refresh' must be a bool"),
    ],
)
def test_bad_options_name_the_option(
    options: dict[str, Any], kind: type[Exception], match: str
) -> None:
    with pytest.raises(kind, match=match):
        StoragePersistence(MemoryStorage(), **options)
