"""Storage keys: the ``{user, chat, thread, key}`` descriptor and the ready key functions.

The descriptor becomes ``user:<u>:chat:<c>:thread:<t>:key:<k>`` with only the parts
present, in that fixed order whatever the mapping's order; no part present is no session.
Every one of the 16 combinations of present parts is checked against the rule written out
by hand, plus the cases a Telegram bot meets (negative chat ids, forum topics, str ids).
"""

from __future__ import annotations

import enum
import itertools
from typing import Any

import pytest

from puregram.session import NoSessionError, by_chat, by_sender, by_user_in_chat, session
from puregram.session._keys import normalise
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio

VALUES = {"user": 42, "chat": -1001234567890, "thread": 7, "key": "profile"}
EXPECTED_TEXT = {"user": "42", "chat": "-1001234567890", "thread": "7", "key": "profile"}


@pytest.mark.parametrize(
    "present",
    [combo for n in range(5) for combo in itertools.combinations(VALUES, n)],
    ids=lambda combo: "+".join(combo) or "none",
)
def test_every_combination_of_parts(present: tuple[str, ...]) -> None:
    expected = ":".join(f"{name}:{EXPECTED_TEXT[name]}" for name in present)
    descriptor = {name: VALUES[name] for name in present}
    assert normalise(descriptor) == expected
    # The order of the mapping does not matter; absent parts may be given as None or "".
    assert normalise(dict(reversed(descriptor.items()))) == expected
    padded = {name: descriptor.get(name) for name in VALUES}
    assert normalise(padded) == expected
    assert normalise({name: descriptor.get(name, "") for name in VALUES}) == expected


@pytest.mark.parametrize(
    ("descriptor", "key"),
    [
        ({"user": 1, "chat": 1}, "user:1:chat:1"),  # a private chat: user id == chat id
        ({"user": 1, "chat": -100}, "user:1:chat:-100"),
        ({"chat": -100, "thread": 3}, "chat:-100:thread:3"),
        ({"user": 1, "key": "settings"}, "user:1:key:settings"),
        ({"key": "global"}, "key:global"),
        ({"user": "ann"}, "user:ann"),  # str ids are used as they are
        ({"user": 0}, "user:0"),  # 0 is an id, not an absent part
        ({"user": 10**20}, "user:100000000000000000000"),
        ({"chat": None, "thread": 5}, "thread:5"),
        ({}, ""),
        ({"user": None, "chat": None}, ""),
    ],
)
def test_cases(descriptor: dict[str, Any], key: str) -> None:
    assert normalise(descriptor) == key


def test_enum_parts_are_their_values() -> None:
    class Topic(enum.IntEnum):
        NEWS = 5

    class Name(str, enum.Enum):
        MAIN = "main"

    assert normalise({"thread": Topic.NEWS, "key": Name.MAIN}) == "thread:5:key:main"


@pytest.mark.parametrize("bad", [True, 1.5, 2.0, b"1", [1], object()])
def test_a_part_of_another_type_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match=r"get_storage_key: part 'chat' must be an int, a str"):
        normalise({"user": 1, "chat": bad})


def test_an_unknown_part_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"unknown key part 'topic'; the parts are user, chat"):
        normalise({"user": 1, "topic": 2})


# -- the ready key functions ---------------------------------------------------------------


class Ctx:
    def __init__(self, **ids: object) -> None:
        self.__dict__.update(ids)
        self.session: Any = None


def test_the_ready_key_functions() -> None:
    ctx = Ctx(sender_id=42, chat_id=-100, thread_id=None)
    assert by_sender(ctx) == "42"
    assert by_chat(ctx) == "chat:-100"
    assert by_user_in_chat(ctx) == "user:42:chat:-100"
    topic = Ctx(sender_id=42, chat_id=-100, thread_id=9)
    assert by_chat(topic) == "chat:-100:thread:9"  # a session per forum topic
    assert by_user_in_chat(topic) == "user:42:chat:-100"  # the v3 default has no thread
    assert by_chat(Ctx(chat_id=5)) == "chat:5"  # no thread_id attribute at all
    for missing in (Ctx(), Ctx(sender_id=None, chat_id=None)):
        assert by_sender(missing) is None
        assert by_chat(missing) is None
        assert by_user_in_chat(missing) is None
    assert by_user_in_chat(Ctx(sender_id=1)) is None
    assert by_user_in_chat(Ctx(chat_id=1)) is None


async def run(mw: Any, context: Any) -> None:
    async def handler() -> None:
        context.session.counter = context.session.get("counter", 0) + 1

    await mw(context, handler)


async def test_by_user_in_chat_keys_in_the_store() -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, get_storage_key=by_user_in_chat)
    await run(mw, Ctx(sender_id=42, chat_id=-100))
    await run(mw, Ctx(sender_id=42, chat_id=-100))
    await run(mw, Ctx(sender_id=42, chat_id=42))
    assert dict([entry async for entry in store.entries()]) == {
        "user:42:chat:-100": {"counter": 2},
        "user:42:chat:42": {"counter": 1},
    }


async def test_by_sender_is_the_default() -> None:
    stores: list[MemoryStorage[Any]] = [MemoryStorage(), MemoryStorage()]
    for store, get_key in zip(stores, (None, by_sender), strict=True):
        mw = session(storage=store, get_storage_key=get_key)
        await run(mw, Ctx(sender_id=42))
        await run(mw, Ctx(sender_id="ann"))
    for store in stores:
        assert dict([e async for e in store.entries()]) == {
            "42": {"counter": 1},
            "ann": {"counter": 1},
        }


async def test_a_descriptor_from_get_storage_key() -> None:
    store: MemoryStorage[Any] = MemoryStorage()

    async def key(context: Any) -> dict[str, Any]:
        return {"chat": context.chat_id, "key": "quiz"}

    for get_key in (key, lambda context: {"chat": context.chat_id, "key": "quiz"}):
        mw = session(storage=store, get_storage_key=get_key)
        await run(mw, Ctx(chat_id=-5))
    assert dict([e async for e in store.entries()]) == {"chat:-5:key:quiz": {"counter": 2}}


@pytest.mark.parametrize(
    ("get_key", "context", "reason"),
    [
        (by_chat, Ctx(sender_id=1), "the context has no chat_id"),
        (by_chat, Ctx(chat_id=None), "context.chat_id is None"),
        (by_user_in_chat, Ctx(chat_id=3), "the context has no sender_id"),
        (by_user_in_chat, Ctx(sender_id=1, chat_id=None), "context.chat_id is None"),
        (by_sender, Ctx(sender_id=None), "context.sender_id is None"),
        (lambda _: {"user": None}, Ctx(), "get_storage_key returned an empty key"),
        (lambda _: "", Ctx(), "get_storage_key returned an empty key"),
    ],
)
async def test_no_key_is_no_session(get_key: Any, context: Any, reason: str) -> None:
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, get_storage_key=get_key)
    errors: list[str] = []

    async def handler() -> None:
        try:
            context.session.counter = 1
        except NoSessionError as error:
            errors.append(str(error))

    await mw(context, handler)
    assert errors == [f"this update has no session: {reason}, so there is nowhere to keep one"]
    assert [e async for e in store.entries()] == []


async def test_a_bad_descriptor_fails_before_the_handler() -> None:
    calls: list[int] = []

    async def handler() -> None:
        calls.append(1)

    mw = session(get_storage_key=lambda _: {"user": 1, "chat": True})
    with pytest.raises(TypeError, match="part 'chat' must be an int, a str or None, got bool"):
        await mw(Ctx(), handler)
    mw = session(get_storage_key=lambda _: {"usr": 1})
    with pytest.raises(ValueError, match="unknown key part 'usr'"):
        await mw(Ctx(), handler)
    assert calls == []
