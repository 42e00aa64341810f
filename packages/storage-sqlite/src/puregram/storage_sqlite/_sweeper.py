"""Periodic sweeps on the event loop's own thread, under asyncio or trio.

No thread ever touches the connection: the sweep runs as a task of the loop that uses the
store (``loop.create_task`` under asyncio, ``trio.lowlevel.spawn_system_task`` under trio,
imported only when trio is the running library). Neither anyio nor sniffio is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ._loop import trio_is_running

__all__ = ["Sweeper"]

logger = logging.getLogger("puregram.storage_sqlite")


class Sweeper:
    """Awaits ``sweep()`` every ``interval_ms`` from a background task, until ``stop``.
    The sweep deletes in batches and yields to the loop between them, so a large one
    shares the loop with the store's other users; ``stop`` cancels it between batches.

    A failed sweep (say, ``database is locked`` past the busy timeout) is logged on the
    ``puregram.storage_sqlite`` logger and retried at the next interval: a background
    task has no caller to raise to, and under trio an error would end the whole run.
    """

    __slots__ = ("_asyncio_task", "_interval", "_sweep", "_trio_done", "_trio_scope")

    def __init__(self, sweep: Callable[[], Awaitable[object]], interval_ms: int) -> None:
        self._sweep = sweep
        self._interval = interval_ms / 1000
        self._asyncio_task: asyncio.Task[None] | None = None
        self._trio_scope: Any = None
        self._trio_done: Any = None

    def start(self) -> None:
        """Start the task in the running event loop; raise ``RuntimeError`` outside one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            self._asyncio_task = loop.create_task(
                self._run_asyncio(), name="puregram.storage_sqlite sweeper"
            )
            return
        if trio_is_running():
            import trio

            self._trio_done = trio.Event()
            # Made here, entered by the task: a stop() before the task first runs still
            # cancels it.
            self._trio_scope = trio.CancelScope()
            trio.lowlevel.spawn_system_task(self._run_trio, name="puregram.storage_sqlite sweeper")
            return
        raise RuntimeError(
            "sweep_interval_ms needs a running asyncio or trio event loop; "
            "call await sweep() yourself under other loops"
        )

    async def stop(self) -> None:
        """Stop the task and wait until it has stopped; safe to call again."""
        task, self._asyncio_task = self._asyncio_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        done = self._trio_done
        if done is not None:
            self._trio_scope.cancel()
            await done.wait()

    async def _sweep_once(self) -> None:
        try:
            await self._sweep()
        except Exception:
            logger.exception("periodic sweep failed; retrying in %s s", self._interval)

    async def _run_asyncio(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._sweep_once()

    async def _run_trio(self) -> None:
        import trio

        try:
            with self._trio_scope:
                while True:
                    await trio.sleep(self._interval)
                    await self._sweep_once()
        finally:
            self._trio_done.set()
