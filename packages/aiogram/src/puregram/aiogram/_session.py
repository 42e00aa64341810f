"""``SessionMiddleware``: ``puregram.session`` as an aiogram middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram.dispatcher.event.bases import CancelHandler, SkipHandler
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.types import TelegramObject

from puregram.session import Sessions, session

from ._context import UpdateContext

__all__ = ["SessionMiddleware"]

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

CONTROL_FLOW: tuple[type[BaseException], ...] = (SkipHandler, CancelHandler)
"""aiogram's "handled, go on / stop here" exceptions: they keep the session's changes."""


class SessionMiddleware(BaseMiddleware):
    """Load the update's session before the handler, save it after, and hand it to the
    handler as ``data[name]`` (``async def handler(message, session: Session)``).

    Register it for every update type with ``dp.update.outer_middleware(
    SessionMiddleware(storage=store))``, or on one observer (``router.message.
    middleware(...)``). Every keyword but ``name`` goes to ``puregram.session.session()``
    unchanged (``storage``, ``initial``, ``get_storage_key``, ``isolation``,
    ``lease_ms``, ``clock``, and whatever later versions add); ``initial`` and
    ``get_storage_key`` receive an ``UpdateContext`` (``sender_id``, ``chat_id``,
    ``thread_id``, ``event``, ``data``). The default key is ``str(sender_id)``, the
    user's id from aiogram's ``event_from_user``: the same record a puregram bot keeps.

    aiogram's ``SkipHandler`` and ``CancelHandler`` (and any type in ``handled``) save
    the session's changes and then propagate; any other exception saves nothing.
    """

    def __init__(
        self, *, name: str = "session", handled: Iterable[type[BaseException]] = (), **options: Any
    ) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(
                f"SessionMiddleware option 'name' must be a str that is an identifier "
                f"(a handler argument name), got {name!r:.60}"
            )
        if isinstance(handled, type) or not isinstance(handled, Iterable):
            raise TypeError(
                "SessionMiddleware option 'handled' must be an iterable of exception "
                f"classes, got {handled!r:.60}"
            )
        self.name = name
        self.middleware = session(handled=(*handled, *CONTROL_FLOW), **options)

    @property
    def sessions(self) -> Sessions:
        """The session middleware's ``sessions``: ``get(key)`` and ``edit(key)`` outside
        updates (broadcasts, cron jobs), under the same lease as updates."""
        return self.middleware.sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = UpdateContext(event, data)
        name = self.name
        result: list[Any] = [None]

        async def next_() -> None:
            data[name] = context.session
            result[0] = await handler(event, data)

        await self.middleware(context, next_)
        return result[0]
