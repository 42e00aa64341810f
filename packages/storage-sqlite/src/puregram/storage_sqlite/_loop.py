"""The little of an event loop the store needs, under asyncio or trio, with no dependency.

The running library is found at call time: an asyncio loop answers
``asyncio.get_running_loop()``; otherwise trio, if it was imported at all, is asked.
Neither anyio nor sniffio is needed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

__all__ = ["sleep", "trio_is_running"]


def trio_is_running() -> bool:
    """Whether this thread runs a trio loop (trio not imported: it cannot be)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _trio() -> Any:
    if not trio_is_running():
        raise RuntimeError("puregram.storage_sqlite needs a running asyncio or trio event loop")
    return sys.modules["trio"]


async def sleep(seconds: float) -> None:
    """Sleep in the running library."""
    if _on_asyncio():
        await asyncio.sleep(seconds)
    else:
        await _trio().sleep(seconds)
