"""``RateLimitHandler`` in group -1 of a real ``Application``."""

from __future__ import annotations

from typing import Any

import pytest
from ptb_fakes import FakeRequest, message
from telegram import Update
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from puregram.ptb import RateLimitHandler, by_user
from puregram.rate_limit import rate_limit
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio


def _app(handler: RateLimitHandler, request: FakeRequest) -> Any:
    app = ApplicationBuilder().token("1:T").request(request).updater(None).build()
    app.add_handler(handler, group=-1)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("handled")

    app.add_handler(CommandHandler("go", echo))
    return app


async def test_over_budget_updates_stop_and_call_on_limit_exceeded() -> None:
    storage = MemoryStorage[Any]()
    exceeded: list[tuple[int | None, int]] = []

    async def on_limit_exceeded(update: Update, context: Any, retry_after: int) -> None:
        user = update.effective_user
        exceeded.append((None if user is None else user.id, retry_after))
        assert update.effective_chat is not None
        await context.bot.send_message(chat_id=update.effective_chat.id, text="slow down")

    handler = RateLimitHandler(
        rate_limit(storage=storage), limit=2, window=60, on_limit_exceeded=on_limit_exceeded
    )
    request = FakeRequest()
    app = _app(handler, request)
    async with app:
        for _ in range(3):
            await app.process_update(message(app, "/go", user=42))
        await app.process_update(message(app, "/go", user=7))  # another user's own budget
    assert request.replies() == ["handled", "handled", "slow down", "handled"]
    assert exceeded == [(42, 60)]
    entry = await storage.get("default:42")
    assert entry is not None
    assert entry["hits"] == 3  # the limiter's own layout


async def test_a_bucket_and_a_sync_callback() -> None:
    storage = MemoryStorage[Any]()
    seen: list[int] = []
    handler = RateLimitHandler(
        rate_limit(storage=storage),
        limit=1,
        window=10,
        bucket="commands",
        on_limit_exceeded=lambda update, context, retry: seen.append(retry),
    )
    request = FakeRequest()
    app = _app(handler, request)
    async with app:
        for _ in range(2):
            await app.process_update(message(app, "/go", user=1))
    assert request.replies() == ["handled"]
    assert seen == [10]
    assert await storage.has("commands:1")


async def test_an_update_without_a_key_is_never_counted() -> None:
    storage = MemoryStorage[Any]()
    handler = RateLimitHandler(
        rate_limit(storage=storage), limit=1, window=60, get_key=lambda update: None
    )
    request = FakeRequest()
    app = _app(handler, request)
    async with app:
        for _ in range(3):
            await app.process_update(message(app, "/go", user=1))
    assert request.replies() == ["handled"] * 3
    assert storage.size == 0


def test_by_user_is_the_effective_user_id() -> None:
    app = ApplicationBuilder().token("1:T").request(FakeRequest()).updater(None).build()
    assert by_user(message(app, "hi", user=5)) == "5"
    assert by_user(Update(update_id=1)) is None


@pytest.mark.parametrize(
    ("options", "kind", "match"),
    [
        ({"limit": 0}, ValueError, "RateLimitHandler option 'limit'"),
        ({"limit": 1.5}, TypeError, "RateLimitHandler option 'limit'"),
        ({"window": 0}, ValueError, "RateLimitHandler option 'window'"),
        ({"window": "60"}, TypeError, "RateLimitHandler option 'window'"),
        ({"bucket": 1}, TypeError, "RateLimitHandler option 'bucket'"),
        ({"get_key": "user"}, TypeError, "RateLimitHandler option 'get_key'"),
        ({"on_limit_exceeded": 1}, TypeError, "RateLimitHandler option 'on_limit_exceeded'"),
    ],
)
def test_bad_options_name_the_option(
    options: dict[str, Any], kind: type[Exception], match: str
) -> None:
    arguments: dict[str, Any] = {"limit": 5, "window": 60, **options}
    with pytest.raises(kind, match=match):
        RateLimitHandler(rate_limit(), **arguments)


def test_the_limiter_must_be_a_rate_limiter() -> None:
    with pytest.raises(TypeError, match="RateLimitHandler option 'limiter'"):
        RateLimitHandler(object(), limit=1, window=1)  # type: ignore[arg-type]
