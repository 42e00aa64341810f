"""``session()``: loading, exposing and saving ``context.session`` around a handler."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from puregram.session import (
    CorruptValueError,
    ForeignValueError,
    NoSessionError,
    Session,
    _middleware,
    _session,
    session,
    ttl,
)
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000


class Update:
    """A bare context: the middleware only needs ``sender_id`` and a writable ``session``."""

    def __init__(self, sender_id: object = 1) -> None:
        self.sender_id = sender_id
        self.session: Any = None


class NoSender:
    session: Any = None


Handler = Callable[[Any], Awaitable[None]]


async def run(mw: Any, context: Any, handler: Handler) -> None:
    async def next_() -> None:
        await handler(context)

    await mw(context, next_)


async def bump(context: Any) -> None:
    context.session.counter = context.session.get("counter", 0) + 1


async def test_counter_survives_updates_and_is_stored_as_a_plain_object() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, initial=lambda _: {"counter": 0})
    for _ in range(3):
        await run(mw, Update(42), bump)
    assert await store.get("42") == {"counter": 3}
    assert store.size == 1


async def test_default_key_is_str_of_sender_id() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store)
    await run(mw, Update("alice"), bump)
    await run(mw, Update(7), bump)
    assert sorted([key async for key in store.keys()]) == ["7", "alice"]


async def test_default_storage_is_a_private_memory_storage() -> None:
    mw = session()
    await run(mw, Update(1), bump)
    seen: list[int] = []

    async def look(context: Any) -> None:
        seen.append(context.session.counter)

    await run(mw, Update(1), look)
    await run(session(), Update(1), bump)  # another middleware, another store
    assert seen == [1]


async def test_initial_sync_and_async_build_missing_sessions() -> None:
    async def initial_async(context: Any) -> dict[str, Any]:
        return {"first": context.sender_id}

    for initial in (lambda context: {"first": context.sender_id}, initial_async):
        store: MemoryStorage[Any] = MemoryStorage()
        mw = session(storage=store, initial=initial)
        await run(mw, Update(5), bump)
        await run(mw, Update(5), bump)
        assert await store.get("5") == {"first": 5, "counter": 2}


async def test_a_new_session_from_initial_is_stored_even_when_unchanged() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, initial=lambda _: {"lang": "en"})

    async def nothing(context: Any) -> None:
        assert context.session.lang == "en"

    await run(mw, Update(1), nothing)
    assert await store.get("1") == {"lang": "en"}


async def test_handlers_never_mutate_the_mapping_initial_returns() -> None:
    shared = {"tags": ["a"]}
    mw = session(initial=lambda _: shared)

    async def tag(context: Any) -> None:
        context.session.tags.append("b")

    await run(mw, Update(1), tag)
    await run(mw, Update(2), tag)
    assert shared == {"tags": ["a"]}


async def test_initial_must_return_a_mapping() -> None:
    mw = session(initial=lambda _: ["not", "a", "mapping"])  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="initial must return a mapping, got list"):
        await run(mw, Update(1), bump)


async def test_get_storage_key_sync_and_async() -> None:
    async def chat_key(context: Any) -> str:
        return f"chat:{context.chat_id}"

    for get_key in (lambda context: f"chat:{context.chat_id}", chat_key):
        store: MemoryStorage[Any] = MemoryStorage()
        mw = session(storage=store, get_storage_key=get_key)
        for sender in (1, 2):
            update = Update(sender)
            update.chat_id = 99  # type: ignore[attr-defined]
            await run(mw, update, bump)
        assert dict([entry async for entry in store.entries()]) == {"chat:99": {"counter": 2}}


async def test_get_storage_key_must_return_str_or_none() -> None:
    mw = session(get_storage_key=lambda context: context.sender_id)
    with pytest.raises(
        TypeError, match=r"get_storage_key must return a str, a .* mapping or None, got int"
    ):
        await run(mw, Update(1), bump)


@pytest.mark.parametrize(
    ("make_context", "options", "reason"),
    [
        (NoSender, {}, "the context has no sender_id"),
        (lambda: Update(None), {}, "context.sender_id is None"),
        (Update, {"get_storage_key": lambda _: None}, "get_storage_key returned None"),
    ],
    ids=["no-sender-id", "sender-id-none", "key-none"],
)
async def test_no_key_means_no_session_and_every_use_says_why(
    make_context: Callable[[], Any], options: dict[str, Any], reason: str
) -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, **options)
    uses: list[Callable[[Any], object]] = [
        lambda s: s.counter,
        lambda s: s["counter"],
        lambda s: s.get("counter"),
        lambda s: setattr(s, "counter", 1),
        lambda s: s.__setitem__("counter", 1),
        lambda s: s.__delitem__("counter"),
        lambda s: "counter" in s,
        lambda s: len(s),
        lambda s: list(s),
        lambda s: bool(s),
    ]
    raised: list[str] = []

    async def handler(context: Any) -> None:
        assert reason in repr(context.session)
        for use in uses:
            with pytest.raises(NoSessionError) as info:
                use(context.session)
            raised.append(str(info.value))

    await run(mw, make_context(), handler)
    assert len(raised) == len(uses)
    assert all(reason in message for message in raised)
    assert store.size == 0


async def test_assigning_a_session_to_an_update_without_key_raises() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store)

    async def assign(context: Any) -> None:
        context.session = {"counter": 1}

    with pytest.raises(NoSessionError, match="nothing was saved"):
        await run(mw, Update(None), assign)
    assert store.size == 0


async def test_an_empty_new_session_stores_nothing() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store)

    async def read_only(context: Any) -> None:
        assert context.session.get("counter") is None

    await run(mw, Update(1), read_only)
    assert store.size == 0


@pytest.mark.parametrize("how", ["clear", "del-keys", "assign-none", "assign-empty", "del-attr"])
async def test_emptying_or_dropping_the_session_deletes_the_record(how: str) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"a": 1, "b": 2}})
    mw = session(storage=store)

    async def drop(context: Any) -> None:
        if how == "clear":
            context.session.clear()
        elif how == "del-keys":
            del context.session.a
            del context.session["b"]
        elif how == "assign-none":
            context.session = None
        elif how == "assign-empty":
            context.session = {}
        else:
            del context.session

    await run(mw, Update(1), drop)
    assert not await store.has("1")


async def test_assigning_a_mapping_replaces_the_session_and_honours_ttl() -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"old": 1}})
    mw = session(storage=store, clock=lambda: NOW)

    async def replace(context: Any) -> None:
        context.session = {"new": 2, "code": ttl("1234", 60_000)}

    await run(mw, Update(1), replace)
    assert await store.get("1") == {
        "new": 2,
        "code": "1234",
        "__ttl": {"code": {"t": 60_000, "at": NOW}},
    }


async def test_assigning_something_else_raises_and_saves_nothing() -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"a": 1}})
    mw = session(storage=store)

    async def assign(context: Any) -> None:
        context.session = 5

    with pytest.raises(TypeError, match="must be a mapping or None, got int"):
        await run(mw, Update(1), assign)
    assert await store.get("1") == {"a": 1}


async def test_a_change_at_any_depth_is_saved() -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"user": {"tags": ["a"], "n": {"x": 1}}}})
    mw = session(storage=store)

    async def deep(context: Any) -> None:
        context.session.user["n"]["x"] = 2
        context.session.user["tags"].append("b")

    await run(mw, Update(1), deep)
    assert await store.get("1") == {"user": {"tags": ["a", "b"], "n": {"x": 2}}}


async def test_a_handler_that_raises_saves_nothing_and_its_exception_propagates() -> None:
    record = {"counter": 1, "nested": {"list": [1]}}
    store: MemoryStorage[Any] = MemoryStorage({"1": record})
    mw = session(storage=store)
    boom = RuntimeError("boom")

    async def fail(context: Any) -> None:
        context.session.counter += 1
        context.session.nested["list"].append(2)
        context.session.extra = True
        raise boom

    with pytest.raises(RuntimeError) as info:
        await run(mw, Update(1), fail)
    assert info.value is boom
    # MemoryStorage keeps values by reference: the handler worked on a copy.
    assert await store.get("1") == {"counter": 1, "nested": {"list": [1]}}
    assert record == {"counter": 1, "nested": {"list": [1]}}


async def test_a_leaked_reference_cannot_change_the_stored_record() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store)
    leaked: list[Any] = []

    async def leak(context: Any) -> None:
        context.session.items_ = [1]
        leaked.append(context.session.items_)
        leaked.append(context.session)

    await run(mw, Update(1), leak)
    leaked[0].append(2)
    leaked[1].later = True
    assert await store.get("1") == {"items_": [1]}


@pytest.mark.parametrize(
    ("value", "error", "shown"),
    [
        ({1, 2}, TypeError, "set"),
        (float("nan"), ValueError, "float (nan)"),
        (object(), TypeError, "object"),
    ],
    ids=["set", "nan", "object"],
)
async def test_a_value_json_cannot_hold_names_the_key_and_saves_nothing(
    value: object, error: type[Exception], shown: str
) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"42": {"ok": 1}})
    mw = session(storage=store)

    async def bad(context: Any) -> None:
        context.session.ok = 2
        context.session.tags = value

    with pytest.raises(error) as info:
        await run(mw, Update(42), bad)
    message = str(info.value)
    assert "session key 'tags'" in message
    assert "storage key '42'" in message
    assert shown in message
    assert await store.get("42") == {"ok": 1}


async def test_ttl_below_the_top_level_is_explained() -> None:
    mw = session()

    async def nested(context: Any) -> None:
        context.session.user = {"name": ttl("ann", 1_000)}

    with pytest.raises(TypeError, match="top-level session key"):
        await run(mw, Update(1), nested)


ISOLATIONS = pytest.mark.parametrize("isolation", ["store", "process"])


@ISOLATIONS
@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ([1, 2], "is an array in JSON"),
        ("text", "is a string in JSON"),
        (3, "is a number in JSON"),
        (False, "is a boolean in JSON"),
        (None, "is a JSON null"),
    ],
    ids=repr,
)
async def test_a_stored_record_that_is_not_an_object_is_foreign_and_left_alone(
    isolation: Any, stored: object, shown: str
) -> None:
    """A JSON ``null`` too: ``get`` returns ``None`` for it as for a missing key, but it is
    someone's record, so it is never overwritten by a new session (F16)."""
    store: MemoryStorage[Any] = MemoryStorage({"1": stored})
    ran: list[bool] = []

    async def handler(context: Any) -> None:
        ran.append(True)
        await bump(context)

    with pytest.raises(ForeignValueError, match=f"the record at key '1' {shown}") as info:
        await run(session(storage=store, isolation=isolation), Update(1), handler)
    assert info.value.key == "1"
    assert ran == []  # the handler never ran
    assert store._data == {"1": stored}
    assert len(store._leases) == 0  # nothing held afterwards


@ISOLATIONS
async def test_a_str_subclass_key_is_stored_as_an_exact_str(isolation: Any) -> None:
    """``get_storage_key`` returning an enum member (Python 3.10 has no StrEnum) (F17)."""

    class Room(str, enum.Enum):
        LOBBY = "lobby"

    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, get_storage_key=lambda _: Room.LOBBY, isolation=isolation)
    await run(mw, Update(1), bump)
    await run(mw, Update(2), bump)
    [(key, value)] = store._data.items()
    assert key.__class__ is str
    assert (key, value) == ("lobby", {"counter": 2})


@ISOLATIONS
async def test_a_sender_id_whose_str_is_a_str_subclass_is_an_exact_str(isolation: Any) -> None:
    class Text(str):
        def __str__(self) -> str:
            return self

    store: MemoryStorage[Any] = MemoryStorage()
    await run(session(storage=store, isolation=isolation), Update(Text("ann")), bump)
    assert [key.__class__ for key in store._data] == [str]


async def test_a_key_with_a_lone_surrogate_is_a_value_error_before_the_handler() -> None:
    ran: list[bool] = []

    async def handler(context: Any) -> None:
        ran.append(True)

    with pytest.raises(ValueError, match="lone surrogate"):
        await run(session(get_storage_key=lambda _: "a\ud800"), Update(1), handler)
    assert ran == []


@ISOLATIONS
async def test_a_stored_record_nested_too_deeply_is_corrupt(isolation: Any) -> None:
    deep: Any = {"a": 1}
    for _ in range(100_000):
        deep = {"n": deep}
    store: MemoryStorage[Any] = MemoryStorage({"1": deep})
    with pytest.raises(CorruptValueError, match="key '1' is unreadable") as info:
        await run(session(storage=store, isolation=isolation), Update(1), bump)
    assert info.value.key == "1"
    assert store._data["1"] is deep


@ISOLATIONS
async def test_the_fast_decoder_turns_recursion_into_corrupt_value(
    isolation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session copies records with the C scanner alone; were its stack to run out
    (it takes a few frames fewer than the encoder, so only near the limit), the error is
    a ``CorruptValueError`` naming the key, not a bare ``RecursionError``."""

    def too_deep(text: str, index: int) -> Any:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON object")

    monkeypatch.setattr(_middleware, "_scan", too_deep)
    monkeypatch.setattr(_session, "_scan", too_deep)  # a value is copied when first read
    store: MemoryStorage[Any] = MemoryStorage({"1": {"counter": 1, "profile": {"a": 1}}})

    async def assign_tags(context: Any) -> None:
        context.session.tags = ["x"]

    async def read_profile(context: Any) -> None:
        context.session.profile["a"] += 1

    for handler in (assign_tags, read_profile):  # the save's copy, then the first read's
        with pytest.raises(CorruptValueError, match="nested too deeply") as info:
            await run(session(storage=store, isolation=isolation), Update(1), handler)
        assert info.value.key == "1"
        assert store._data == {"1": {"counter": 1, "profile": {"a": 1}}}


@ISOLATIONS
async def test_saving_a_session_nested_too_deeply_is_the_cores_value_error(
    isolation: Any,
) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"counter": 1}})

    async def nest(context: Any) -> None:
        deep: Any = [1]
        for _ in range(100_000):
            deep = [deep]
        context.session.counter = 2
        context.session.deep = deep

    with pytest.raises(
        ValueError, match="cannot store key '1' as JSON: the value is nested more than 512"
    ):
        await run(session(storage=store, isolation=isolation), Update(1), nest)
    assert store._data == {"1": {"counter": 1}}


async def test_the_session_is_a_session_instance() -> None:
    seen: list[object] = []

    async def look(context: Any) -> None:
        seen.append(context.session)

    await run(session(), Update(1), look)
    assert isinstance(seen[0], Session)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"initial": {"counter": 0}}, "initial"),
        ({"get_storage_key": "id"}, "get_storage_key"),
        ({"clock": 5}, "clock"),
        ({"storage": {}}, "storage"),
        ({"isolation": 1}, "isolation"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(TypeError, match=f"session\\({named}=...\\)"):
        session(**options)


async def test_a_record_written_between_the_read_and_the_has_is_not_taken_for_null() -> None:
    """Without a lease, another process may create the record between the middleware's
    ``get`` (nothing) and its ``has`` (something). That is a new record, not a stored
    JSON ``null``: the update reads it and builds on it. The store below is a test
    double that injects that interleaving (a real server cannot be made to on demand):
    its first ``get`` of the key misses and, right after, "another process" writes."""

    class RacedStore(MemoryStorage[Any]):
        raced = False

        async def get(self, key: str) -> Any:
            if not self.raced:
                self.raced = True
                value = await super().get(key)
                await super().set(key, {"counter": 5})  # the other process's write
                return value
            return await super().get(key)

    store = RacedStore()
    await run(session(storage=store, isolation="process"), Update(1), bump)
    assert store._data == {"1": {"counter": 6}}
