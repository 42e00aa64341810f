"""The little of an event loop the store needs, under asyncio or trio, with no dependency.

The running library is found at call time: an asyncio loop answers
``asyncio.get_running_loop()``; otherwise trio, if it was imported at all, is asked.
Neither anyio nor sniffio is needed.

Time slices. Every statement runs on the loop's thread, so a task that keeps calling the
store without awaiting anything else (a busy handler, a long walk, 200 tasks taking turns
on one store) would hold the loop. ``due()`` says whether the current slice, shared by
every store on this thread, has lasted ``SLICE_S``; ``pause()`` then yields to the loop
by parking the task until a later loop turn hands it the next slice (see ``pause``),
so one loop turn lasts about ``SLICE_S`` plus one statement, however many tasks take
turns.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import deque
from time import perf_counter
from typing import Any

__all__ = ["SLICE_S", "due", "pause", "sleep", "trio_is_running"]

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


class _Slice(threading.local):
    """This thread's slices: one per thread, since each thread runs its own loop.

    ``started``: when the current slice began (``perf_counter`` seconds). ``waiters``:
    the tasks parked until their turn, first in, first out. ``wake_pending``: a wake-up
    is scheduled on ``loop`` (the asyncio loop or trio token these belong to; another
    loop on this thread starts afresh)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.waiters: deque[Any] = deque()
        self.wake_pending = False
        self.loop: Any = None


_slice = _Slice()


def due() -> bool:
    """Whether the current slice has run out: about 0.1 µs, run before every statement."""
    return perf_counter() - _slice.started >= SLICE_S


async def pause() -> None:
    """Wait for a turn in a fresh slice: park, first in first out, until a wake-up
    hands this task the next slice.

    One waiter is woken per wake-up, so the loop steps only the tasks that can run,
    never all the tasks that wait (which would make each loop turn cost the number of
    waiting tasks). Under asyncio a wake-up is a timer due at once, which the loop runs
    after the timers that came due before it; a wake-up that follows another and finds
    the slice used up (by the task woken last, in this loop turn) waits one loop turn
    more, so that the timers and I/O that came due meanwhile run first. Wake-ups go on
    while waiters remain, so a parked task never depends on another task coming back
    to the store."""
    state = _slice
    try:
        loop: Any = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        if state.loop is not loop:
            state.__init__()  # type: ignore[misc]
            state.loop = loop
        waiter: Any = loop.create_future()
        state.waiters.append(waiter)
        if not state.wake_pending:
            # Timers that came due during the slice run first: the loop moves them to
            # its ready queue before this one, due later.
            state.wake_pending = True
            loop.call_at(loop.time(), _wake_asyncio, state, loop, True)
        try:
            await waiter
        except BaseException:
            waiter.cancel()  # the wake-up skips it
            raise
        return
    if not trio_is_running():
        # Another loop library (or coroutines driven by hand): nothing to yield to
        # that this module knows; go on in a fresh slice, as before time slices.
        state.started = perf_counter()
        return
    trio = sys.modules["trio"]
    token = trio.lowlevel.current_trio_token()
    if state.loop is not token:
        state.__init__()  # type: ignore[misc]
        state.loop = token
    event = trio.Event()
    state.waiters.append(event)
    if not state.wake_pending:
        state.wake_pending = True
        token.run_sync_soon(_wake_trio, state, token, True)
    await event.wait()


def _wake_asyncio(state: _Slice, loop: Any, deferred: bool) -> None:
    if state.loop is not loop:
        return
    if not deferred and due():
        loop.call_at(loop.time(), _wake_asyncio, state, loop, True)
        return
    state.wake_pending = False
    waiters = state.waiters
    while waiters:
        waiter = waiters.popleft()
        if not waiter.done():  # not cancelled meanwhile
            waiter.set_result(None)
            break
    state.started = perf_counter()
    if waiters:
        state.wake_pending = True
        loop.call_at(loop.time(), _wake_asyncio, state, loop, False)


def _wake_trio(state: _Slice, token: Any, deferred: bool) -> None:
    if state.loop is not token:
        return
    if not deferred and due():
        token.run_sync_soon(_wake_trio, state, token, True)
        return
    state.wake_pending = False
    waiters = state.waiters
    while waiters:
        event = waiters.popleft()
        if event.statistics().tasks_waiting:  # not cancelled meanwhile
            event.set()
            break
    state.started = perf_counter()
    if waiters:
        state.wake_pending = True
        token.run_sync_soon(_wake_trio, state, token, False)
