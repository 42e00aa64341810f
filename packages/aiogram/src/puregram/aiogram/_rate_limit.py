"""``RateLimitMiddleware``: ``puregram.rate_limit`` as an aiogram middleware."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiogram.dispatcher.flags import get_flag
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.types import TelegramObject

from puregram.rate_limit import RateLimiter

from ._context import UpdateContext

__all__ = ["RateLimitMiddleware"]

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
Gate = Callable[[Any], Awaitable[bool]]
OnLimitExceeded = Callable[[Any, int], object]

_MISSING = object()
_FLAG_KEYS = frozenset({"limit", "window", "bucket"})


class RateLimitMiddleware(BaseMiddleware):
    """Drop an update over budget: the handler does not run and nothing falls through to
    another handler (the middleware returns ``None``, which aiogram takes as handled).

    - ``limiter``: a ``puregram.rate_limit.rate_limit(...)`` limiter (its store and
      ``get_key``: by default the user id from aiogram's ``event_from_user``).
    - ``limit``, ``window`` (seconds), ``bucket``: the budget of every update this
      middleware sees. Without them only handlers with the flag are limited.
    - ``on_limit_exceeded(event, retry_after)``, sync or async: runs for a dropped update
      (default: the limiter's own callback, called with the ``UpdateContext``).
    - ``flag`` (default ``"rate_limit"``): per-handler budgets, read when the middleware
      is an inner one (``router.message.middleware(mw)``):
      ``@router.message(flags={"rate_limit": {"limit": 1, "window": 5}})``, with an
      optional ``"bucket"`` (default: the handler's ``module.qualname``, so each handler
      counts apart); ``{"rate_limit": False}`` exempts a handler. ``flag=None`` ignores
      flags.

    Options are checked now; a bad flag raises ``TypeError``/``ValueError`` naming the
    handler on its first update.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        limit: int | None = None,
        window: float | None = None,
        bucket: str | None = None,
        on_limit_exceeded: OnLimitExceeded | None = None,
        flag: str | None = "rate_limit",
    ) -> None:
        if not isinstance(limiter, RateLimiter):
            raise TypeError(
                "RateLimitMiddleware(limiter) must be a puregram.rate_limit RateLimiter "
                f"(made by rate_limit()), got {type(limiter).__name__}"
            )
        if on_limit_exceeded is not None and not callable(on_limit_exceeded):
            raise TypeError(
                "RateLimitMiddleware option 'on_limit_exceeded' must be callable, "
                f"got {type(on_limit_exceeded).__name__}"
            )
        if flag is not None and not isinstance(flag, str):
            raise TypeError(
                f"RateLimitMiddleware option 'flag' must be a str or None, got {flag!r:.60}"
            )
        if (limit is None) != (window is None):
            raise TypeError("RateLimitMiddleware needs both 'limit' and 'window', or neither")
        self.limiter = limiter
        self.flag = flag
        self._callback: OnLimitExceeded | None = None
        if on_limit_exceeded is not None:
            self._callback = _for_event(on_limit_exceeded)
        self._default: Gate | None = None
        if limit is not None and window is not None:
            self._default = limiter.filter(
                limit=limit, window=window, bucket=bucket, on_limit_exceeded=self._callback
            )
        self._flag_gates: dict[int, tuple[object, Gate | None]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        gate = self._default
        if self.flag is not None and "handler" in data:
            value = get_flag(data, self.flag, default=_MISSING)
            if value is not _MISSING:
                gate = self._flag_gate(data["handler"], value)
        if gate is None or await gate(UpdateContext(event, data)):
            return await handler(event, data)
        return None

    def _flag_gate(self, handler: Any, value: object) -> Gate | None:
        cached = self._flag_gates.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        gate = self._parse_flag(handler, value)
        self._flag_gates[id(value)] = (value, gate)
        return gate

    def _parse_flag(self, handler: Any, value: object) -> Gate | None:
        callback = getattr(handler, "callback", handler)
        owner = f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__qualname__', '?')}"
        where = f"the {self.flag!r} flag of handler {owner}"
        if value is None or value is False:
            return None
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{where} must be a mapping {{'limit': int, 'window': seconds, 'bucket': "
                f"str (optional)}} or False, got {value!r:.60}"
            )
        unknown = set(value) - _FLAG_KEYS
        if unknown or "limit" not in value or "window" not in value:
            raise TypeError(
                f"{where} takes 'limit' and 'window' (and optionally 'bucket'), "
                f"got the keys {sorted(map(str, value))}"
            )
        try:
            return self.limiter.filter(
                limit=value["limit"],
                window=value["window"],
                bucket=value.get("bucket", owner),
                on_limit_exceeded=self._callback,
            )
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from exc


def _for_event(callback: OnLimitExceeded) -> OnLimitExceeded:
    """The limiter calls back with the ``UpdateContext``; the user's callback takes the
    aiogram event."""

    async def call(context: UpdateContext, retry_after: int) -> None:
        result = callback(context.event, retry_after)
        if inspect.isawaitable(result):
            await result

    return call
