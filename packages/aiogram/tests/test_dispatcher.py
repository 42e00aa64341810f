"""A real ``aiogram.Dispatcher`` fed updates (``feed_update``) on a recording bot session,
over memory, a SQLite file and a Redis server: what a bot author relies on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import CancelHandler, SkipHandler
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from puregram.aiogram import EventIsolation, FsmStorage, RateLimitMiddleware, SessionMiddleware
from puregram.aiogram.testing import RecordingSession, make_bot, message_update
from puregram.rate_limit import rate_limit
from puregram.session import Session
from puregram.storage import KVStorage

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])]


class Form(StatesGroup):
    name = State()
    age = State()


def form_router() -> Router:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await message.answer("name?")

    @router.message(Form.name)
    async def name(message: Message, state: FSMContext) -> None:
        await state.update_data(name=message.text)
        await state.set_state(Form.age)
        await message.answer("age?")

    @router.message(Form.age)
    async def age(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await message.answer(f"{data['name']} is {message.text}")

    return router


def texts(bot: Bot) -> list[str]:
    session = bot.session
    assert isinstance(session, RecordingSession)
    return session.texts()


async def test_an_fsm_flow_survives_a_restart(kind: str, store: KVStorage[Any]) -> None:
    """A new Dispatcher on a new FsmStorage over the same store carries the flow on: the
    state and data were in the store, not in the Dispatcher."""
    first = Dispatcher(storage=FsmStorage(store, close_storage=False))
    first.include_router(form_router())
    bot = make_bot()
    await first.feed_update(bot, message_update(user_id=7, text="/start"))
    await first.feed_update(bot, message_update(user_id=7, text="Ann"))

    second = Dispatcher(storage=FsmStorage(store, close_storage=False))
    second.include_router(form_router())
    await second.feed_update(bot, message_update(user_id=7, text="30"))
    assert texts(bot) == ["name?", "age?", "Ann is 30"]
    assert not await store.has("fsm:7:7:state")  # clear() deleted both keys
    assert not await store.has("fsm:7:7:data")


async def test_the_state_and_data_are_stored_as_documented(
    kind: str, store: KVStorage[Any]
) -> None:
    dp = Dispatcher(storage=FsmStorage(store, close_storage=False))
    dp.include_router(form_router())
    bot = make_bot()
    await dp.feed_update(bot, message_update(user_id=7, text="/start"))
    await dp.feed_update(bot, message_update(user_id=7, text="Ann"))
    assert await store.get("fsm:7:7:state") == "Form:age"
    assert await store.get("fsm:7:7:data") == {"name": "Ann"}


async def test_fifty_overlapping_updates_keep_every_session_change(
    kind: str, store: KVStorage[Any]
) -> None:
    dp = Dispatcher()
    dp.update.outer_middleware(SessionMiddleware(storage=store))

    @dp.message()
    async def count(message: Message, session: Session) -> None:
        seen = session.get("counter", 0)
        await asyncio.sleep(0)  # other updates run meanwhile, as while a reply is sent
        session.counter = seen + 1
        await message.answer(str(seen + 1))

    bot = make_bot()
    await asyncio.gather(
        *(dp.feed_update(bot, message_update(user_id=5, text=str(n))) for n in range(50))
    )
    assert await store.get("5") == {"counter": 50}
    assert sorted(map(int, texts(bot))) == list(range(1, 51))


async def test_an_update_over_the_limit_gets_one_reply_and_no_handler(
    kind: str, store: KVStorage[Any]
) -> None:
    """The trap of issue 14: a filter returning False let aiogram try the next handler,
    and one update got two replies. The middleware drops the update instead."""
    ran: list[str] = []

    async def too_fast(event: Any, retry_after: int) -> None:
        await event.message.answer(f"wait {retry_after}s")

    dp = Dispatcher()
    dp.update.outer_middleware(
        RateLimitMiddleware(
            rate_limit(storage=store), limit=1, window=60, on_limit_exceeded=too_fast
        )
    )

    @dp.message(F.text == "hi")
    async def hello(message: Message) -> None:
        ran.append("hello")
        await message.answer("hello!")

    @dp.message()
    async def fallback(message: Message) -> None:
        ran.append("fallback")
        await message.answer("what?")

    bot = make_bot()
    await dp.feed_update(bot, message_update(user_id=3, text="hi"))
    await dp.feed_update(bot, message_update(user_id=3, text="hi"))
    assert ran == ["hello"]
    assert texts(bot) == ["hello!", "wait 60s"]
    assert (await store.get("default:3") or {})["hits"] == 2


async def test_a_per_handler_flag_limits_that_handler_alone(
    kind: str, store: KVStorage[Any]
) -> None:
    ran: list[str] = []
    dp = Dispatcher()
    dp.message.middleware(RateLimitMiddleware(rate_limit(storage=store)))

    @dp.message(Command("search"), flags={"rate_limit": {"limit": 1, "window": 30}})
    async def search(message: Message) -> None:
        ran.append("search")

    @dp.message()
    async def other(message: Message) -> None:
        ran.append("other")

    bot = make_bot()
    for text in ["/search", "/search", "x", "x", "/search"]:
        await dp.feed_update(bot, message_update(user_id=4, text=text))
    assert ran == ["search", "other", "other"]
    bucket = f"{__name__}.test_a_per_handler_flag_limits_that_handler_alone.<locals>.search"
    assert (await store.get(f"{bucket}:4") or {})["hits"] == 3


@pytest.mark.parametrize("where", ["outer", "inner"])
async def test_skip_handler_keeps_the_session_change(
    kind: str, store: KVStorage[Any], where: str
) -> None:
    dp = Dispatcher()
    middleware = SessionMiddleware(storage=store)
    if where == "outer":
        dp.update.outer_middleware(middleware)
    else:
        dp.message.middleware(middleware)

    @dp.message()
    async def first(message: Message, session: Session) -> None:
        session.visits = session.get("visits", 0) + 1
        raise SkipHandler

    @dp.message()
    async def second(message: Message, session: Session) -> None:
        await message.answer(f"visits {session.visits}")

    bot = make_bot()
    await dp.feed_update(bot, message_update(user_id=9, text="a"))
    await dp.feed_update(bot, message_update(user_id=9, text="b"))
    assert texts(bot) == ["visits 1", "visits 2"]
    assert await store.get("9") == {"visits": 2}


async def test_cancel_handler_keeps_the_change_and_propagates(
    kind: str, store: KVStorage[Any]
) -> None:
    dp = Dispatcher()
    dp.update.outer_middleware(SessionMiddleware(storage=store))

    @dp.message()
    async def stop(message: Message, session: Session) -> None:
        session.stopped = True
        raise CancelHandler

    with pytest.raises(CancelHandler):
        await dp.feed_update(make_bot(), message_update(user_id=9, text="a"))
    assert await store.get("9") == {"stopped": True}


async def test_a_handler_error_saves_nothing(kind: str, store: KVStorage[Any]) -> None:
    dp = Dispatcher()
    dp.update.outer_middleware(SessionMiddleware(storage=store))

    @dp.message()
    async def broken(message: Message, session: Session) -> None:
        session.visits = 1
        raise LookupError("boom")

    with pytest.raises(LookupError):
        await dp.feed_update(make_bot(), message_update(user_id=9, text="a"))
    assert not await store.has("9")


async def test_event_isolation_serialises_one_users_fsm_updates(
    kind: str, store: KVStorage[Any]
) -> None:
    """Without isolation the overlapping update_data calls lose writes; with it, none."""
    fsm = FsmStorage(store, close_storage=False)
    dp = Dispatcher(storage=fsm, events_isolation=EventIsolation(fsm))

    @dp.message()
    async def add(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await asyncio.sleep(0)
        await state.update_data(seen=[*data.get("seen", []), message.text])

    bot = make_bot()
    await asyncio.gather(
        *(dp.feed_update(bot, message_update(user_id=6, text=str(n))) for n in range(30))
    )
    stored = await store.get("fsm:6:6:data") or {}
    assert sorted(map(int, stored["seen"])) == list(range(30))
    if kind == "memory":
        assert len(dp.fsm.events_isolation._leases) == 0  # type: ignore[attr-defined]


async def test_the_session_key_functions_see_aiogram_ids(kind: str, store: KVStorage[Any]) -> None:
    dp = Dispatcher()
    dp.update.outer_middleware(
        SessionMiddleware(
            storage=store,
            get_storage_key=lambda ctx: f"{ctx.chat_id}:{ctx.thread_id}:{ctx.sender_id}",
        )
    )

    @dp.message()
    async def note(message: Message, session: Session) -> None:
        session.seen = True

    await dp.feed_update(make_bot(), message_update(user_id=2, text="a", chat_id=-100, thread_id=8))
    assert await store.get("-100:8:2") == {"seen": True}
