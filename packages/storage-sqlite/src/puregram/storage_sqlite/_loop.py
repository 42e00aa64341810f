"""The little of an event loop the store needs, under asyncio or trio, with no dependency.

The running library is found at call time: an asyncio loop answers
``asyncio.get_running_loop()``; otherwise trio, if it was imported at all, is asked.
Neither anyio nor sniffio is needed.

Time slices. Every statement runs on the loop's thread, so a task that keeps calling the
store without awaiting anything else (a busy handler, a long walk, 200 tasks taking turns
on one store) would hold the loop. ``due()`` says whether the current slice, shared by
every store on this thread, has lasted ``SLICE_S``; ``pause()`` then yields to the loop
once (``asyncio.sleep(0)``, ``trio.lowlevel.checkpoint()``). The first task to come back
from a pause starts the next slice; the others, woken in the same loop turn after the
slice ran out again, yield again without running a statement, so one loop turn lasts
about ``SLICE_S`` plus one statement, however many tasks take turns.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from time import perf_counter
from typing import Any

__all__ = ["SLICE_S", "checkpoint", "due", "pause", "sleep", "trio_is_running"]

SLICE_S = 0.001
"""How long the store's statements may hold the loop before one of them yields."""


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


async def checkpoint() -> None:
    """Let the running loop run its other tasks, timers and I/O once, then come back. A
    cancellation point under both libraries."""
    if _on_asyncio():
        await asyncio.sleep(0)
    else:
        await _trio().lowlevel.checkpoint()


class _Slice(threading.local):
    """When this thread's current slice began (``perf_counter`` seconds). One per thread,
    since each thread runs its own loop."""

    started = 0.0


_slice = _Slice()


def due() -> bool:
    """Whether the current slice has run out: about 0.1 µs, run before every statement."""
    return perf_counter() - _slice.started >= SLICE_S


async def pause() -> None:
    """Yield to the loop until this task may run a statement in a fresh slice."""
    state = _slice
    while True:
        yielded = perf_counter()
        await checkpoint()
        now = perf_counter()
        if state.started <= yielded:
            # Nobody started a slice since this task yielded: the loop has had its turn.
            state.started = now
            return
        if now - state.started < SLICE_S:
            return
