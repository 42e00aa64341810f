"""The middlewares' options and edges, through a real Dispatcher on a memory store."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.types import Chat, Message, Update

from puregram.aiogram import RateLimitMiddleware, SessionMiddleware, UpdateContext
from puregram.aiogram.testing import RecordingSession, make_bot, message_update
from puregram.rate_limit import rate_limit
from puregram.session import NoSessionError, Session
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio


def channel_post() -> Update:
    return Update(
        update_id=1,
        channel_post=Message(
            message_id=1,
            date=datetime.now(timezone.utc),
            chat=Chat(id=-100, type="channel"),
            text="news",
        ),
    )


async def test_an_update_without_a_user_has_no_session_and_no_limit() -> None:
    seen: list[str] = []
    dp = Dispatcher()
    dp.update.outer_middleware(SessionMiddleware())
    dp.update.outer_middleware(RateLimitMiddleware(rate_limit(), limit=1, window=60))

    @dp.channel_post()
    async def post(message: Message, session: Session) -> None:
        with pytest.raises(NoSessionError):
            session.get("x")
        seen.append(str(message.text))

    bot = make_bot()
    await dp.feed_update(bot, channel_post())
    await dp.feed_update(bot, channel_post())
    assert seen == ["news", "news"]


async def test_the_session_goes_by_the_name_given() -> None:
    store = MemoryStorage[Any]()
    dp = Dispatcher()
    dp.update.outer_middleware(SessionMiddleware(name="user_data", storage=store))

    @dp.message()
    async def handler(message: Message, user_data: Session) -> None:
        user_data.hello = "world"

    await dp.feed_update(make_bot(), message_update(user_id=3, text="x"))
    assert await store.get("3") == {"hello": "world"}


async def test_session_options_go_through_and_are_checked_by_session() -> None:
    contexts: list[UpdateContext] = []

    def initial(context: UpdateContext) -> dict[str, Any]:
        contexts.append(context)
        return {"chat": context.chat_id}

    store = MemoryStorage[Any]()
    dp = Dispatcher()
    dp.update.outer_middleware(
        SessionMiddleware(storage=store, initial=initial, isolation="process")
    )

    @dp.message()
    async def handler(message: Message, session: Session) -> None:
        session.n = 1

    await dp.feed_update(make_bot(), message_update(user_id=3, text="x", chat_id=-7))
    assert await store.get("3") == {"chat": -7, "n": 1}
    assert contexts[0].sender_id == 3
    assert isinstance(contexts[0].event, Update)
    with pytest.raises(TypeError, match="isolation"):
        SessionMiddleware(isolation=3)
    with pytest.raises(TypeError):
        SessionMiddleware(no_such_option=True)
    with pytest.raises(TypeError, match="'name'"):
        SessionMiddleware(name="not an identifier")
    with pytest.raises(TypeError, match="'handled'"):
        SessionMiddleware(handled=KeyError)  # type: ignore[arg-type]


async def test_the_limiters_own_callback_gets_the_update_context() -> None:
    calls: list[tuple[Any, int]] = []
    limiter = rate_limit(on_limit_exceeded=lambda context, retry: calls.append((context, retry)))
    dp = Dispatcher()
    dp.message.middleware(RateLimitMiddleware(limiter, limit=1, window=10))

    @dp.message()
    async def handler(message: Message) -> None:
        pass

    bot = make_bot()
    for _ in range(2):
        await dp.feed_update(bot, message_update(user_id=3, text="x"))
    [(context, retry)] = calls
    assert isinstance(context, UpdateContext)
    assert context.sender_id == 3
    assert isinstance(context.event, Message)
    assert retry == 10


async def test_a_false_flag_exempts_a_handler_from_the_default_budget() -> None:
    ran: list[str] = []
    dp = Dispatcher()
    dp.message.middleware(RateLimitMiddleware(rate_limit(), limit=1, window=60))

    @dp.message(flags={"rate_limit": False})
    async def free(message: Message) -> None:
        ran.append(str(message.text))

    bot = make_bot()
    for n in range(3):
        await dp.feed_update(bot, message_update(user_id=3, text=str(n)))
    assert ran == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("flag", "error", "match"),
    [
        ({"limit": 1}, TypeError, "takes 'limit' and 'window'"),
        ({"limit": 1, "window": 5, "every": 2}, TypeError, "takes 'limit' and 'window'"),
        ({"limit": 0, "window": 5}, ValueError, "limit"),
        ({"limit": 1, "window": "5"}, TypeError, "window"),
        ("1/5s", TypeError, "must be a mapping"),
    ],
)
async def test_a_bad_flag_names_the_handler(flag: Any, error: type[Exception], match: str) -> None:
    dp = Dispatcher()
    dp.message.middleware(RateLimitMiddleware(rate_limit()))

    @dp.message(flags={"rate_limit": flag})
    async def searching(message: Message) -> None:
        pass

    with pytest.raises(error, match=match) as caught:
        await dp.feed_update(make_bot(), message_update(user_id=3, text="x"))
    assert "searching" in str(caught.value)


def test_bad_rate_limit_options_are_refused_at_once() -> None:
    with pytest.raises(TypeError, match="RateLimiter"):
        RateLimitMiddleware(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="both 'limit' and 'window'"):
        RateLimitMiddleware(rate_limit(), limit=1)
    with pytest.raises(ValueError, match="limit"):
        RateLimitMiddleware(rate_limit(), limit=0, window=1)
    with pytest.raises(TypeError, match="on_limit_exceeded"):
        RateLimitMiddleware(rate_limit(), on_limit_exceeded=3)  # type: ignore[arg-type]


async def test_the_recording_session_records_without_a_network() -> None:
    bot = make_bot()
    await bot.send_message(chat_id=5, text="hi")
    session = bot.session
    assert isinstance(session, RecordingSession)
    assert session.texts() == ["hi"]
    assert session.texts(chat_id=6) == []
