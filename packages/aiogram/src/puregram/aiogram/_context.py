"""``UpdateContext``: what puregram's session and rate limiter see of an aiogram update."""

from __future__ import annotations

from typing import Any

from aiogram.dispatcher.middlewares.user_context import (
    EVENT_CHAT_KEY,
    EVENT_FROM_USER_KEY,
    EVENT_THREAD_ID_KEY,
)
from aiogram.types import TelegramObject

__all__ = ["UpdateContext"]


class UpdateContext:
    """The context object the middlewares give ``puregram.session`` and
    ``puregram.rate_limit`` (and so your ``get_storage_key``, ``initial`` and ``get_key``):

    - ``event``: the aiogram event (an ``Update`` in an ``dp.update`` middleware, a
      ``Message``, a ``CallbackQuery``... in an observer's);
    - ``data``: aiogram's handler data;
    - ``sender_id``, ``chat_id``, ``thread_id``: from aiogram's ``event_from_user``,
      ``event_chat`` and ``event_thread_id`` (``None`` when the update has none);
    - ``session``: set by the session middleware.

    aiogram's events are frozen pydantic models; this object is where the session lives
    during the update.
    """

    __slots__ = ("chat_id", "data", "event", "sender_id", "session", "thread_id")

    def __init__(self, event: TelegramObject, data: dict[str, Any]) -> None:
        self.event = event
        self.data = data
        user = data.get(EVENT_FROM_USER_KEY)
        chat = data.get(EVENT_CHAT_KEY)
        self.sender_id: int | None = None if user is None else user.id
        self.chat_id: int | None = None if chat is None else chat.id
        self.thread_id: int | None = data.get(EVENT_THREAD_ID_KEY)
        self.session: Any = None

    def __repr__(self) -> str:
        return (
            f"UpdateContext({type(self.event).__name__}, sender_id={self.sender_id!r}, "
            f"chat_id={self.chat_id!r}, thread_id={self.thread_id!r})"
        )
