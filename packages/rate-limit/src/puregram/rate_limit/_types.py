"""The callable shapes the limiter takes and returns, named once for the annotations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Clock", "Filter", "GetKey", "Middleware", "Next", "OnLimitExceeded"]

Next = Callable[[], Awaitable[object]]
"""The rest of the middleware chain: ``await next()`` runs it."""

Middleware = Callable[[Any, Next], Awaitable[None]]
"""``async def middleware(context, next) -> None``, the puregram middleware convention."""

Filter = Callable[[Any], Awaitable[bool]]
"""``async def filter(context) -> bool``: ``True`` lets the update through."""

GetKey = Callable[[Any], str | None]
"""Maps a context to its user key; ``None`` means the update is never limited."""

OnLimitExceeded = Callable[[Any, int], object]
"""``(context, retry_after)``; a plain function or an ``async def`` (its result is awaited)."""

Clock = Callable[[], int | float]
"""Returns the current unix time in milliseconds."""
