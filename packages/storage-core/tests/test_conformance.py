from typing import Any

import pytest

from puregram.storage import (
    KVStorage,
    LruMemoryStorage,
    MemoryStorage,
    enhance_storage,
    namespaced,
)
from puregram.storage.testing import Check, conformance_checks

pytestmark = pytest.mark.anyio


def _stores() -> dict[str, KVStorage[Any]]:
    return {
        "memory": MemoryStorage(),
        "lru": LruMemoryStorage(max=1_000),
        "enhanced-memory": enhance_storage(MemoryStorage(), ttl_ms=60_000),
        "enhanced-lru": enhance_storage(LruMemoryStorage(max=1_000), migrations={1: dict}),
        "namespaced-memory": namespaced(MemoryStorage({"other:k": 1}), "ns:"),
        "namespaced-enhanced": namespaced(enhance_storage(MemoryStorage()), "ns:"),
        "namespaced-nested": namespaced(namespaced(LruMemoryStorage(max=1_000), "a:"), "b:"),
    }


@pytest.mark.parametrize("name", list(_stores()))
@pytest.mark.parametrize("check", conformance_checks(serializes=False), ids=str)
async def test_memory_stores_conform(name: str, check: Check) -> None:
    await check(_stores()[name])
