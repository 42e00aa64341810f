"""The conformance kit catches broken stores: it cannot pass everything.

Each broken store below is a correct reference store with one rule of the contract broken
on purpose. The reference store passes every check, so each failure is the kit noticing
that one breach.
"""

import fnmatch
import time
import unittest
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from puregram.storage import (
    LeaseLostError,
    MemoryStorage,
    check_key,
    check_ms,
    decode_value,
    encode_value,
)
from puregram.storage._leases import LocalLeases
from puregram.storage.testing import (
    Check,
    CheckSkipped,
    ConformanceError,
    check_storage,
    conformance_checks,
)

pytestmark = pytest.mark.anyio

ALL_CHECKS = [
    "round_trip",
    "missing_key",
    "none_is_a_value",
    "overwrite",
    "delete",
    "odd_keys",
    "non_str_key_rejected",
    "iteration",
    "touch",
    "get_and_touch",
    "count_hit",
    "count_hit_is_exact",
    "ttl_expires",
    "lease_reads_and_writes",
    "lease_exclusion",
    "lease_expires_and_fences",
    "prefix_iteration",
    "namespaced_isolation",
    "namespaced_clear",
    "namespaced_capabilities",
    "unserializable_rejected",
    "unencodable_key_rejected",
]
SERIALIZING = ["unserializable_rejected", "unencodable_key_rejected"]


class JsonStore:
    """A correct store with every capability: JSON text in a dict, like a real adapter."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.leases = LocalLeases()

    async def get(self, key: str) -> Any:
        raw = self.data.get(check_key(key))
        return None if raw is None else decode_value(key, raw)

    async def set(self, key: str, value: Any) -> None:
        self.data[check_key(key)] = encode_value(key, value)

    async def delete(self, key: str) -> None:
        self.data.pop(check_key(key), None)

    async def has(self, key: str) -> bool:
        return check_key(key) in self.data

    async def touch(self, key: str) -> None:
        check_key(key)

    async def get_and_touch(self, key: str) -> Any:
        await self.touch(key)
        return await self.get(key)

    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        check_key(key)
        check_ms("window_ms", window_ms)
        now = time.time_ns() // 1_000_000
        entry = await self.get(key)
        if entry is not None and not (isinstance(entry, dict) and "resetAt" in entry):
            raise ValueError(f"{key!r} holds a value that is not a counter")
        if entry is None or entry["resetAt"] <= now:
            entry = {"hits": 0, "resetAt": now + window_ms}
        entry["hits"] += 1
        await self.set(key, entry)
        return entry["hits"], entry["resetAt"]

    @asynccontextmanager
    async def lock(self, key: str, *, lease_ms: int = 30_000) -> AsyncIterator["JsonLease"]:
        token = await self.leases.acquire(check_key(key), check_ms("lease_ms", lease_ms))
        lease = JsonLease(self, key, token, key in self.data, await self.get(key))
        try:
            yield lease
        finally:
            await lease.release()

    def _listed(self, key: str, prefix: str) -> bool:
        return key.startswith(prefix)

    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        for key in list(self.data):
            if self._listed(key, prefix):
                yield key

    async def values(self, *, prefix: str = "") -> AsyncIterator[Any]:
        async for _, value in self.entries(prefix=prefix):
            yield value

    async def entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, Any]]:
        for key, raw in list(self.data.items()):
            if self._listed(key, prefix):
                yield key, decode_value(key, raw)


class JsonLease:
    """A correct ``Lease`` over ``JsonStore``: fenced by the token in ``LocalLeases``."""

    def __init__(self, store: JsonStore, key: str, token: int, found: bool, value: Any) -> None:
        self.store, self.key, self.token, self.found, self.value = store, key, token, found, value
        self.done = False

    def _end(self) -> None:
        assert not self.done
        self.done = True
        if not self.store.leases.holds(self.key, self.token):
            raise LeaseLostError(self.key)

    async def save(self, value: Any) -> None:
        self._end()
        await self.store.set(self.key, value)
        self.store.leases.release(self.key, self.token)

    async def remove(self) -> None:
        self._end()
        await self.store.delete(self.key)
        self.store.leases.release(self.key, self.token)

    async def release(self, *, touch: bool = False) -> None:
        if not self.done:
            self.done = True
            self.store.leases.release(self.key, self.token)


class HasIgnoresNone(JsonStore):
    async def has(self, key: str) -> bool:
        return await self.get(key) is not None


class AcceptsIntKeys(JsonStore):
    """Writes ``str(key)`` instead of refusing a non-str key: the classic silent bug."""

    async def set(self, key: Any, value: Any) -> None:
        self.data[str(key)] = encode_value(str(key), value)

    async def get(self, key: Any) -> Any:
        raw = self.data.get(str(key))
        return None if raw is None else decode_value(str(key), raw)


class RaisesKeyErrorForIntKeys(JsonStore):
    async def get(self, key: Any) -> Any:
        if not isinstance(key, str):
            raise KeyError(key)
        return await super().get(key)


class KeysRepeatAKey(JsonStore):
    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        async for key in super().keys(prefix=prefix):
            yield key
        for key in [k for k in self.data if k.startswith(prefix)][:1]:
            yield key


class EntriesRepeatAKey(JsonStore):
    async def entries(self, *, prefix: str = "") -> AsyncIterator[tuple[str, Any]]:
        async for entry in super().entries(prefix=prefix):
            yield entry
            yield entry


class KeysSeeDeletedKeys(JsonStore):
    """Iterates a cache of every key ever set, like a stale secondary index."""

    def __init__(self) -> None:
        super().__init__()
        self.ever: list[str] = []

    async def set(self, key: str, value: Any) -> None:
        await super().set(key, value)
        if key not in self.ever:
            self.ever.append(key)

    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        for key in self.ever:
            if key.startswith(prefix):
                yield key


class KeysMissSome(JsonStore):
    async def keys(self, *, prefix: str = "") -> AsyncIterator[str]:
        for key in [k for k in self.data if k.startswith(prefix)][1:]:
            yield key


class PrefixIsAGlob(JsonStore):
    """Lists a prefix with an unescaped glob, as a naive ``SCAN MATCH prefix*``."""

    def _listed(self, key: str, prefix: str) -> bool:
        return fnmatch.fnmatchcase(key, prefix + "*")


class PrefixRangeStopsAtFFFF(JsonStore):
    """Lists a prefix as the range ``[prefix, prefix + "\\uffff")``, which misses keys
    with an astral character (or U+FFFF itself) right after the prefix."""

    def _listed(self, key: str, prefix: str) -> bool:
        return prefix <= key < prefix + "\uffff"


class PrefixIgnored(JsonStore):
    """Takes ``prefix=`` and lists every key anyway."""

    def _listed(self, key: str, prefix: str) -> bool:
        return True


class StoresASet(MemoryStorage[Any]):
    """Claims to serialize but keeps whatever it is given, a set included."""


class WritesBeforeRejecting(JsonStore):
    """Writes a placeholder, then fails to encode: half-written on bad input."""

    async def set(self, key: str, value: Any) -> None:
        self.data[check_key(key)] = "null"
        self.data[key] = encode_value(key, value)


class ErrorsDoNotNameTheKey(JsonStore):
    async def set(self, key: str, value: Any) -> None:
        try:
            text = encode_value(key, value)
        except (TypeError, ValueError) as exc:
            raise TypeError("cannot encode") from exc
        self.data[check_key(key)] = text


class BoolBecomesInt(JsonStore):
    async def get(self, key: str) -> Any:
        value = await super().get(key)
        return int(value) if isinstance(value, bool) else value


class MissingReadsAsEmpty(JsonStore):
    async def get(self, key: str) -> Any:
        value = await super().get(key)
        return "" if value is None and key not in self.data else value


class OverwriteMerges(JsonStore):
    async def set(self, key: str, value: Any) -> None:
        old = await self.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            value = {**old, **value}
        await super().set(key, value)


class DeleteOfMissingRaises(JsonStore):
    async def delete(self, key: str) -> None:
        del self.data[check_key(key)]


class KeysAreStripped(JsonStore):
    """Normalises keys, so ``" "`` and ``""`` collide."""

    async def get(self, key: str) -> Any:
        return await super().get(check_key(key).strip())

    async def set(self, key: str, value: Any) -> None:
        await super().set(check_key(key).strip(), value)

    async def has(self, key: str) -> bool:
        return await super().has(check_key(key).strip())

    async def delete(self, key: str) -> None:
        await super().delete(check_key(key).strip())


class DeleteIsAGlob(JsonStore):
    """Deletes by pattern, as a careless ``KEYS pattern`` + ``DEL`` adapter would."""

    async def delete(self, key: str) -> None:
        import fnmatch

        for stored in [k for k in self.data if fnmatch.fnmatchcase(k, check_key(key))]:
            del self.data[stored]


class LongKeysTruncated(JsonStore):
    async def set(self, key: str, value: Any) -> None:
        await super().set(check_key(key)[:255], value)


class TouchCreates(JsonStore):
    async def touch(self, key: str) -> None:
        if key not in self.data:
            self.data[check_key(key)] = "null"


class TouchOfMissingRaises(JsonStore):
    async def touch(self, key: str) -> None:
        if key not in self.data:
            raise LookupError(f"no such key: {key}")


class GetAndTouchChangesTheValue(JsonStore):
    async def get_and_touch(self, key: str) -> Any:
        await self.set(key, {"touched": True})
        return await self.get(key)


class CountHitStartsAtZero(JsonStore):
    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        hits, reset_at = await super().count_hit(key, window_ms)
        return hits - 1, reset_at


class CountHitAcceptsZeroWindow(JsonStore):
    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        return await super().count_hit(key, max(window_ms, 1))


class CountHitOverwritesForeignValues(JsonStore):
    async def count_hit(self, key: str, window_ms: int) -> tuple[int, int]:
        entry = await self.get(key)
        if entry is not None and "resetAt" not in entry:
            await self.delete(key)
        return await super().count_hit(key, window_ms)


BROKEN: list[tuple[Callable[[], Any], str]] = [
    (HasIgnoresNone, "none_is_a_value"),
    (HasIgnoresNone, "round_trip"),
    (AcceptsIntKeys, "non_str_key_rejected"),
    (RaisesKeyErrorForIntKeys, "non_str_key_rejected"),
    (KeysRepeatAKey, "iteration"),
    (EntriesRepeatAKey, "iteration"),
    (KeysSeeDeletedKeys, "iteration"),
    (KeysMissSome, "iteration"),
    (StoresASet, "unserializable_rejected"),
    (WritesBeforeRejecting, "unserializable_rejected"),
    (ErrorsDoNotNameTheKey, "unserializable_rejected"),
    (BoolBecomesInt, "round_trip"),
    (MissingReadsAsEmpty, "missing_key"),
    (OverwriteMerges, "overwrite"),
    (DeleteOfMissingRaises, "delete"),
    (KeysAreStripped, "odd_keys"),
    (DeleteIsAGlob, "odd_keys"),
    (LongKeysTruncated, "odd_keys"),
    (TouchCreates, "touch"),
    (TouchOfMissingRaises, "touch"),
    (GetAndTouchChangesTheValue, "get_and_touch"),
    (CountHitStartsAtZero, "count_hit"),
    (CountHitAcceptsZeroWindow, "count_hit"),
    (CountHitOverwritesForeignValues, "count_hit"),
    (PrefixIsAGlob, "prefix_iteration"),
    (PrefixRangeStopsAtFFFF, "prefix_iteration"),
    (PrefixIgnored, "prefix_iteration"),
    (PrefixIgnored, "namespaced_isolation"),
    (PrefixIgnored, "namespaced_clear"),
]


def _check(name: str) -> Check:
    (check,) = [c for c in conformance_checks(serializes=True) if c.name == name]
    return check


async def test_the_reference_store_passes_every_check() -> None:
    """Without this, a failure below could be the kit's fault, not the store's."""
    assert await check_storage(JsonStore(), serializes=True) == ["ttl_expires"]


async def test_memory_storage_passes_without_the_serializing_checks() -> None:
    skipped = await check_storage(MemoryStorage(), serializes=False)
    assert skipped == ["touch", "get_and_touch", "count_hit", "count_hit_is_exact", "ttl_expires"]


@pytest.mark.parametrize(
    ("broken", "check_name"),
    BROKEN,
    ids=[f"{factory.__name__}-{name}" for factory, name in BROKEN],
)
async def test_the_check_for_a_broken_rule_fails(
    broken: Callable[[], Any], check_name: str
) -> None:
    with pytest.raises(ConformanceError):
        await _check(check_name)(broken())


@pytest.mark.parametrize("broken", sorted({factory for factory, _ in BROKEN}, key=repr))
async def test_check_storage_fails_a_broken_store_naming_the_check(
    broken: Callable[[], Any],
) -> None:
    expected = {name for factory, name in BROKEN if factory is broken}
    with pytest.raises(ConformanceError) as caught:
        await check_storage(broken(), serializes=True)
    assert str(caught.value).split(":", 1)[0] in set(ALL_CHECKS)
    # check_storage stops at the first breach, which comes no later than the planted one.
    first = str(caught.value).split(":", 1)[0]
    assert ALL_CHECKS.index(first) <= min(ALL_CHECKS.index(name) for name in expected)


async def test_a_failure_says_what_went_wrong() -> None:
    with pytest.raises(ConformanceError, match="has\\(\\) is false after set\\(key, None\\)"):
        await _check("none_is_a_value")(HasIgnoresNone())
    with pytest.raises(ConformanceError, match="keys\\(\\) yielded a key more than once"):
        await _check("iteration")(KeysRepeatAKey())
    with pytest.raises(ConformanceError, match="expected TypeError, got KeyError"):
        await _check("non_str_key_rejected")(RaisesKeyErrorForIntKeys())
    with pytest.raises(ConformanceError, match="expected TypeError, nothing was raised"):
        await _check("non_str_key_rejected")(AcceptsIntKeys())
    with pytest.raises(ConformanceError, match="delete\\(\\) of a deleted key raised KeyError"):
        await _check("delete")(DeleteOfMissingRaises())


async def test_conformance_error_is_an_assertion_error() -> None:
    """So pytest reports a breach as a failure, not as an error in the test."""
    assert issubclass(ConformanceError, AssertionError)


def test_the_check_list() -> None:
    assert [str(c) for c in conformance_checks(serializes=True)] == ALL_CHECKS
    assert [c.name for c in conformance_checks(serializes=False)] == [
        name for name in ALL_CHECKS if name not in SERIALIZING
    ]


async def test_checks_clean_up_after_themselves() -> None:
    storage = JsonStore()
    await storage.set("mine", {"kept": True})
    await check_storage(storage, serializes=True)
    assert storage.data == {"mine": '{"kept":true}'}


async def test_optional_checks_skip_a_store_without_the_capability() -> None:
    class Plain:
        def __init__(self) -> None:
            self.calls = 0

        async def get(self, key: str) -> Any:
            self.calls += 1

        async def set(self, key: str, value: Any) -> None:
            self.calls += 1

        async def delete(self, key: str) -> None:
            self.calls += 1

        async def has(self, key: str) -> bool:
            self.calls += 1
            return False

    storage = Plain()
    optional = (
        "iteration",
        "touch",
        "get_and_touch",
        "count_hit",
        "count_hit_is_exact",
        "ttl_expires",
        "lease_reads_and_writes",
        "lease_exclusion",
        "lease_expires_and_fences",
    )
    for name in optional:
        with pytest.raises(CheckSkipped):
            await _check(name)(storage)
    assert storage.calls == 0
    assert issubclass(CheckSkipped, unittest.SkipTest)  # reported as skipped, not passed
