"""The public API is ``__all__``: adding or dropping a name must be a deliberate change."""

import importlib
import inspect
import types
from pathlib import Path

import pytest

import puregram.storage
import puregram.storage.testing

STORAGE_API = [
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
    "MAX_COUNT",
    "MAX_MS",
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

TESTING_API = ["Check", "CheckSkipped", "ConformanceError", "check_storage", "conformance_checks"]


def test_storage_all_is_pinned() -> None:
    assert sorted(puregram.storage.__all__) == STORAGE_API
    assert len(set(puregram.storage.__all__)) == len(puregram.storage.__all__)


def test_testing_all_is_pinned() -> None:
    assert sorted(puregram.storage.testing.__all__) == TESTING_API


@pytest.mark.parametrize(
    ("module", "name"),
    [("puregram.storage", name) for name in STORAGE_API]
    + [("puregram.storage.testing", name) for name in TESTING_API],
)
def test_every_public_name_imports(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert puregram.storage.__version__ == version("puregram-storage")


def test_puregram_is_a_namespace_package_and_storage_is_typed() -> None:
    import puregram

    assert getattr(puregram, "__file__", None) is None  # PEP 420: no puregram/__init__.py
    assert (Path(puregram.storage.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in STORAGE_API
        # Not the type aliases (Migration): on Python 3.10 an alias of
        # collections.abc.Callable[...] passes isinstance(alias, type).
        if (
            isinstance(getattr(puregram.storage, n), type)
            and not isinstance(getattr(puregram.storage, n), types.GenericAlias)
        )
        or inspect.isfunction(getattr(puregram.storage, n))
    ],
)
def test_public_classes_and_functions_show_their_public_module(name: str) -> None:
    assert getattr(puregram.storage, name).__module__ == "puregram.storage"
