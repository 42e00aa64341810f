"""Drive an aiogram ``Dispatcher`` without a network: a recording session and updates.

    bot = make_bot()                                   # Bot(session=RecordingSession())
    await dp.feed_update(bot, message_update(user_id=42, text="/start"))
    assert bot.session.texts() == ["Hi!"]

``RecordingSession`` is an aiogram ``BaseSession`` whose ``make_request`` records the
method and returns a canned result (a ``Message`` for the methods that return one, else
``True``): nothing is sent.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from datetime import datetime, timezone
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import CallbackQuery, Chat, Message, Update, User

__all__ = ["RecordingSession", "callback_update", "make_bot", "message_update"]

_update_ids = itertools.count(1)


class RecordingSession(BaseSession):
    """Records every API call in ``requests`` and answers it without a network."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self._message_ids = itertools.count(1_000)

    async def close(self) -> None:
        pass

    async def make_request(
        self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None
    ) -> Any:
        self.requests.append(method)
        if method.__returning__ is Message or "Message" in str(method.__returning__):
            chat_id = getattr(method, "chat_id", None) or 1
            return Message(
                message_id=next(self._message_ids),
                date=datetime.now(timezone.utc),
                chat=Chat(id=int(chat_id), type="private"),
                text=getattr(method, "text", None),
            )
        return True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    def texts(self, chat_id: int | None = None) -> list[str]:
        """The ``text`` of every recorded call that has one (sent and edited messages),
        in order; only those to ``chat_id`` when given."""
        return [
            str(method.text)  # type: ignore[attr-defined]
            for method in self.requests
            if getattr(method, "text", None) is not None
            and (chat_id is None or getattr(method, "chat_id", None) == chat_id)
        ]


def make_bot(token: str = "42:TEST", session: RecordingSession | None = None) -> Bot:
    """A ``Bot`` on a ``RecordingSession`` (``bot.session``); its id is the token's
    number (42)."""
    return Bot(token, session=RecordingSession() if session is None else session)


def _user(user_id: int) -> User:
    return User(id=user_id, is_bot=False, first_name=f"user{user_id}")


def message_update(
    *,
    user_id: int,
    text: str,
    chat_id: int | None = None,
    thread_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    """An ``Update`` with a text ``Message`` from ``user_id`` (in their private chat, or
    in ``chat_id``; a forum topic with ``thread_id``)."""
    chat = (
        Chat(id=user_id, type="private")
        if chat_id is None
        else Chat(id=chat_id, type="supergroup", is_forum=thread_id is not None)
    )
    return Update(
        update_id=next(_update_ids) if update_id is None else update_id,
        message=Message(
            message_id=next(_update_ids),
            date=datetime.now(timezone.utc),
            chat=chat,
            from_user=_user(user_id),
            text=text,
            message_thread_id=thread_id,
            is_topic_message=True if thread_id is not None else None,
        ),
    )


def callback_update(
    *,
    user_id: int,
    data: str,
    message_id: int = 1,
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    """An ``Update`` with a ``CallbackQuery`` from ``user_id`` pressing ``data`` on the
    bot's message ``message_id``."""
    chat = Chat(id=user_id if chat_id is None else chat_id, type="private")
    return Update(
        update_id=next(_update_ids) if update_id is None else update_id,
        callback_query=CallbackQuery(
            id=str(next(_update_ids)),
            from_user=_user(user_id),
            chat_instance="test",
            data=data,
            message=Message(
                message_id=message_id,
                date=datetime.now(timezone.utc),
                chat=chat,
                from_user=User(id=42, is_bot=True, first_name="bot"),
                text="...",
            ),
        ),
    )
