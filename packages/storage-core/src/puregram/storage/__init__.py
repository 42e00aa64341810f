"""puregram.storage: the async key-value contract shared by every puregram plugin.

The map of the package:

- the contract: ``KVStorage`` and its optional capabilities ``IterableStorage``,
  ``TtlStorage``, ``GetTouchStorage`` and ``CounterStorage``, with one ``is_*`` guard each;
- ready stores: ``MemoryStorage`` (unbounded) and ``LruMemoryStorage`` (bounded);
- ``enhance_storage``: versioned envelopes, migrations and per-entry expiry over any store;
- for adapter authors: ``check_key``, ``describe_key``, ``encode_value``, ``decode_value``,
  ``CorruptValueError``, and the conformance kit in ``puregram.storage.testing``;
- for plugin authors: ``KeyLocks``, per-key locks for read-modify-write cycles.
"""

from .__about__ import __version__
from ._codec import check_key, decode_value, encode_value
from ._enhance import EnhancedStorage, Migration, enhance_storage
from ._errors import CorruptValueError, describe_key
from ._locks import KeyLocks
from ._lru import LruMemoryStorage
from ._memory import MemoryStorage
from ._protocols import (
    CounterStorage,
    GetTouchStorage,
    IterableStorage,
    KVStorage,
    TtlStorage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_ttl_storage,
)

__all__ = [
    "CorruptValueError",
    "CounterStorage",
    "EnhancedStorage",
    "GetTouchStorage",
    "IterableStorage",
    "KVStorage",
    "KeyLocks",
    "LruMemoryStorage",
    "MemoryStorage",
    "Migration",
    "TtlStorage",
    "__version__",
    "check_key",
    "decode_value",
    "describe_key",
    "encode_value",
    "enhance_storage",
    "is_counter_storage",
    "is_get_touch_storage",
    "is_iterable_storage",
    "is_ttl_storage",
]
