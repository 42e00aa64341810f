"""puregram.storage: the async key-value contract shared by every puregram plugin.

The map of the package:

- the contract: ``KVStorage`` and its optional capabilities ``IterableStorage``,
  ``TtlStorage``, ``GetTouchStorage``, ``CounterStorage`` and ``LockStorage`` (leases,
  ``Lease``), with one ``is_*`` guard each;
- ready stores: ``MemoryStorage`` (unbounded) and ``LruMemoryStorage`` (bounded);
- ``enhance_storage``: versioned envelopes, migrations and per-entry expiry over any store;
- ``namespaced``: a ``NamespacedStorage`` view of one key prefix of a store, listed
  natively where the store ``supports_prefix`` (its ``keys(prefix=...)``);
- errors: ``StorageError`` and its ``CorruptValueError``, ``ForeignValueError`` and
  ``LeaseLostError`` (the tree is in ``_errors.py``);
- for adapter authors: ``check_key``, ``describe_key``, ``encode_value``, ``decode_value``,
  the option checks ``check_ms``, ``check_count``, ``check_seconds``, ``check_text`` (with
  their bounds ``MAX_MS`` and ``MAX_COUNT``), and the conformance kit in
  ``puregram.storage.testing``;
- for plugin and adapter authors: ``KeyLocks``, per-key locks for read-modify-write
  cycles, ``LocalLeases``, per-key leases with deadlines inside one process (the
  in-process queue in front of a store's own leases), and ``BaseLease``, the state
  every ``Lease`` keeps (key, value, found, ended), for a store's own lease class, and
  ``lease_backoff``, the jittered waits between attempts at a lease held elsewhere.
"""

from .__about__ import __version__
from ._codec import check_key, decode_value, encode_value
from ._enhance import EnhancedStorage, Migration, enhance_storage
from ._errors import (
    CorruptValueError,
    ForeignValueError,
    LeaseLostError,
    StorageError,
    describe_key,
)
from ._leases import BaseLease, LocalLeases, lease_backoff
from ._locks import KeyLocks
from ._lru import LruMemoryStorage
from ._memory import MemoryStorage
from ._namespaced import NamespacedStorage, namespaced, supports_prefix
from ._options import MAX_COUNT, MAX_MS, check_count, check_ms, check_seconds, check_text
from ._protocols import (
    CounterStorage,
    GetTouchStorage,
    IterableStorage,
    KVStorage,
    Lease,
    LockStorage,
    TtlStorage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)

__all__ = [
    "MAX_COUNT",
    "MAX_MS",
    "BaseLease",
    "CorruptValueError",
    "CounterStorage",
    "EnhancedStorage",
    "ForeignValueError",
    "GetTouchStorage",
    "IterableStorage",
    "KVStorage",
    "KeyLocks",
    "Lease",
    "LeaseLostError",
    "LocalLeases",
    "LockStorage",
    "LruMemoryStorage",
    "MemoryStorage",
    "Migration",
    "NamespacedStorage",
    "StorageError",
    "TtlStorage",
    "__version__",
    "check_count",
    "check_key",
    "check_ms",
    "check_seconds",
    "check_text",
    "decode_value",
    "describe_key",
    "encode_value",
    "enhance_storage",
    "is_counter_storage",
    "is_get_touch_storage",
    "is_iterable_storage",
    "is_lock_storage",
    "is_ttl_storage",
    "lease_backoff",
    "namespaced",
    "supports_prefix",
]

# Tracebacks and reprs name the public module (puregram.storage.MemoryStorage), not the
# private one the class happens to live in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
