"""Test stores shared by the packages' suites."""

from __future__ import annotations

from typing import Any

import anyio.lowlevel

from puregram.storage import MemoryStorage


class YieldingStorage(MemoryStorage[Any]):
    """A fake only in timing: ``get`` and ``set`` yield to the event loop as a network
    store does, which a dict never does, so that concurrent updates really interleave."""

    async def get(self, key: str) -> Any:
        await anyio.lowlevel.checkpoint()
        return await super().get(key)

    async def set(self, key: str, value: Any) -> None:
        await anyio.lowlevel.checkpoint()
        await super().set(key, value)
