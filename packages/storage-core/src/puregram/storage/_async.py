"""The little of an event loop the core needs, under asyncio or trio, with no dependency.

The running library is found at call time: an asyncio loop answers
``asyncio.get_running_loop()``; otherwise trio is imported (only then) and asked.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

__all__ = ["new_event", "wait_event"]


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
