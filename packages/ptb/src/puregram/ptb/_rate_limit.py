"""``RateLimitHandler``: a PTB ``TypeHandler`` that stops updates over budget."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CallbackContext, TypeHandler

from puregram.rate_limit import RateLimiter
from puregram.storage import check_count, check_seconds

__all__ = ["RateLimitHandler", "by_user"]

GetKey = Callable[[Update], "str | None"]
OnLimitExceeded = Callable[[Update, Any, int], "Awaitable[object] | object"]


def by_user(update: Update) -> str | None:
    """``str(update.effective_user.id)``, or ``None`` for an update without a user."""
    user = update.effective_user
    return None if user is None else str(user.id)


if TYPE_CHECKING:
    _TypeHandler = TypeHandler[Update, Any, None]
else:  # PTB 21's TypeHandler takes two type parameters, PTB 22's three: none at run time
    _TypeHandler = TypeHandler


class RateLimitHandler(_TypeHandler):
    """Counts one hit per ``Update`` with ``limiter`` and stops an update over budget.

    Add it in a group before your handlers: ``application.add_handler(handler, group=-1)``.
    Within budget it does nothing (the update goes on to the next groups); over budget it
    awaits ``on_limit_exceeded(update, context, retry_after)`` when given (sync or async)
    and raises ``ApplicationHandlerStop``, so no later group sees the update. The stored
    key is ``f"{'default' if bucket is None else bucket}:{get_key(update)}"``, as the
    limiter's own; ``get_key`` (default ``by_user``) returning ``None`` means the update is
    always allowed and never counted. Costs one ``RateLimiter.hit`` per update.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        limit: int,
        window: float,
        bucket: str | None = None,
        get_key: GetKey | None = None,
        on_limit_exceeded: OnLimitExceeded | None = None,
    ) -> None:
        if not isinstance(limiter, RateLimiter):
            raise TypeError(
                "RateLimitHandler option 'limiter' must be a puregram.rate_limit.RateLimiter, "
                f"got {type(limiter).__name__}"
            )
        check_count("limit", limit, owner="RateLimitHandler")
        check_seconds("window", window, owner="RateLimitHandler")
        if bucket is not None and not isinstance(bucket, str):
            raise TypeError(
                "RateLimitHandler option 'bucket' must be a str or None, "
                f"got {type(bucket).__name__}"
            )
        for name, value in (("get_key", get_key), ("on_limit_exceeded", on_limit_exceeded)):
            if value is not None and not callable(value):
                raise TypeError(f"RateLimitHandler option {name!r} must be callable, got {value!r}")
        self.limiter = limiter
        self.limit = limit
        self.window = window
        self.bucket = bucket
        self.get_key: GetKey = get_key or by_user
        self.on_limit_exceeded = on_limit_exceeded
        super().__init__(Update, self._gate, block=True)

    async def _gate(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        user_key = self.get_key(update)
        if user_key is None:
            return
        if not isinstance(user_key, str):
            raise TypeError(
                f"RateLimitHandler get_key must return a str or None, got {type(user_key).__name__}"
            )
        key = f"{'default' if self.bucket is None else self.bucket}:{user_key}"
        retry_after = await self.limiter.hit(key, self.limit, self.window)
        if retry_after is None:
            return
        if self.on_limit_exceeded is not None:
            result = self.on_limit_exceeded(update, context, retry_after)
            if inspect.isawaitable(result):
                await result
        raise ApplicationHandlerStop
