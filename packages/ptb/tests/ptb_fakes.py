"""A real ``telegram.ext.Application`` with no network: the test bot and its fake Bot API.

``FakeRequest`` is a ``telegram.request.BaseRequest`` that answers ``getMe`` and
``sendMessage`` with canned JSON and records every call (a fake only for the network,
which tests may not use; everything else is PTB's own code). ``build_app`` wires the
test bot: counters in user, chat and bot data, a handler that stops with
``ApplicationHandlerStop``, and a persistent ``ConversationHandler`` named ``order``.
The integration tests import this module too.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BasePersistence,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

from puregram.ptb import PersistEveryUpdate

BOT_ID = 1
TOKEN = f"{BOT_ID}:TEST-TOKEN"
ASK = 1

_update_ids = itertools.count(1)


class FakeRequest(BaseRequest):
    """Answers the Bot API methods the test bot calls; ``sent`` lists ``(method, params)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._message_ids = itertools.count(1000)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        self.sent.append((endpoint, params))
        result: Any
        if endpoint == "getMe":
            result = {"id": BOT_ID, "is_bot": True, "first_name": "Test", "username": "test_bot"}
        elif endpoint == "sendMessage":
            result = {
                "message_id": next(self._message_ids),
                "date": 0,
                "chat": {"id": params["chat_id"], "type": "private"},
                "text": params["text"],
            }
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def replies(self) -> list[str]:
        return [str(params["text"]) for method, params in self.sent if method == "sendMessage"]


def message(
    app: Application[Any, Any, Any, Any, Any, Any], text: str, *, user: int, chat: int | None = None
) -> Update:
    """An ``Update`` with a text message from ``user`` in ``chat`` (default: the private
    chat with ``user``); a leading ``/word`` is a bot command."""
    data: dict[str, Any] = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": 0,
            "chat": {"id": user if chat is None else chat, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}"},
            "text": text,
        },
    }
    if text.startswith("/"):
        data["message"]["entities"] = [
            {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
        ]
    return Update.de_json(data, app.bot)


async def count(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user_data: Any = context.user_data
    chat_data: Any = context.chat_data
    user_data["count"] = user_data.get("count", 0) + 1
    chat_data["seen"] = chat_data.get("seen", 0) + 1
    context.bot_data["total"] = context.bot_data.get("total", 0) + 1
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        f"count {user_data['count']} seen {chat_data['seen']} total {context.bot_data['total']}"
    )


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user_data: Any = context.user_data
    user_data["stopped"] = user_data.get("stopped", 0) + 1
    raise ApplicationHandlerStop


async def after_stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group 1: must never see an update that group 0 stopped."""
    user_data: Any = context.user_data
    user_data["group_1"] = user_data.get("group_1", 0) + 1


async def order(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.effective_message is not None
    await update.effective_message.reply_text("what would you like?")
    return ASK


async def ordered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.effective_message is not None
    user_data: Any = context.user_data
    user_data["ordered"] = update.effective_message.text
    await update.effective_message.reply_text(f"ordered {update.effective_message.text}")
    return ConversationHandler.END


def build_app(
    persistence: BasePersistence[Any, Any, Any], request: FakeRequest | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The test bot over ``persistence``, persisting after every update."""
    request = request or FakeRequest()
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(request)
        .get_updates_request(FakeRequest())
        .updater(None)
        .persistence(persistence)
        .application_class(PersistEveryUpdate)
        .build()
    )
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("order", order)],
            states={ASK: [MessageHandler(filters.TEXT & ~filters.COMMAND, ordered)]},
            fallbacks=[],
            name="order",
            persistent=True,
        )
    )
    app.add_handler(CommandHandler("count", count))
    app.add_handler(CommandHandler("stop", stop))
    app.add_handler(TypeHandler(Update, after_stop), group=1)
    return app
