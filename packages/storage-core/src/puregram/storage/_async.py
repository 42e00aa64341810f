"""The little of an event loop the core needs, under asyncio or trio, with no dependency.

The running library is found at call time: an asyncio loop answers
``asyncio.get_running_loop()``; otherwise trio is imported (only then) and asked.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["gather", "new_event", "sleep", "wait_event"]


def _trio() -> Any:
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return trio
    raise RuntimeError("puregram.storage needs a running asyncio or trio event loop")


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def new_event() -> Any:
    """An event of the running library (``asyncio.Event`` or ``trio.Event``)."""
    if _on_asyncio():
        return asyncio.Event()
    return _trio().Event()


async def wait_event(event: Any, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; return whether it was set."""
    if isinstance(event, asyncio.Event):
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return event.is_set()
        return True
    with _trio().move_on_after(timeout):
        await event.wait()
    return bool(event.is_set())


async def sleep(seconds: float) -> None:
    """Sleep on the running library's clock."""
    if _on_asyncio():
        await asyncio.sleep(seconds)
    else:
        await _trio().sleep(seconds)


async def gather(*calls: Callable[[], Awaitable[Any]]) -> None:
    """Run every call concurrently until all are done; the first error propagates."""
    if _on_asyncio():
        await asyncio.gather(*(call() for call in calls))
        return
    async with _trio().open_nursery() as nursery:
        for call in calls:
            nursery.start_soon(call)
