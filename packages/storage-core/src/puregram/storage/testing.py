"""The conformance kit: the checks an adapter author runs against their own store.

Every store in this repository runs it. Each check is an async function of one store; it
writes under fresh random keys (plus a few fixed odd keys, such as ``""``) and deletes
what it wrote, so it can run against a store that already holds data. It needs no test
framework; with pytest and anyio::

    import pytest
    from puregram.storage.testing import conformance_checks

    @pytest.mark.anyio
    @pytest.mark.parametrize("check", conformance_checks(serializes=True), ids=str)
    async def test_conformance(check, storage):
        await check(storage)

``serializes=True`` adds the checks for stores that keep values as JSON: a value JSON
cannot hold is rejected with the store unchanged. Optional capabilities (iteration,
``touch``, ``get_and_touch``, ``count_hit``) are checked when the store has them and
skipped (the check returns at once) when it does not. A failed check raises
``ConformanceError``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ._protocols import (
    CounterStorage,
    KVStorage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_ttl_storage,
)

__all__ = ["Check", "ConformanceError", "check_storage", "conformance_checks"]

Store = KVStorage[Any]

ODD_KEYS = (
    "",
    " ",
    "two words",
    "line\nbreak",
    "tab\tand\r\nreturn",
    "ключ-🔑-鍵",
    "*",
    "?",
    "[",
    "]",
    "[a-z]",
    "\\",
    "a:b:c",
    "k" * 10_000,
)

SAMPLE_VALUES: tuple[Any, ...] = (
    "text",
    "",
    "ünïcödé ✓",
    0,
    -(2**53),
    1.5,
    True,
    False,
    None,
    [],
    [1, "two", None, [3.25]],
    {},
    {"counter": 1, "nested": {"list": [1, 2, {"deep": True}]}, "none": None},
)

BAD_KEYS: tuple[Any, ...] = (1, b"bytes", None, ("tuple",))


class ConformanceError(AssertionError):
    """A store broke the contract; the message says which rule and with what input."""


@dataclass(frozen=True)
class Check:
    """One named rule of the contract. Call it with a store; it raises on a breach."""

    name: str
    run: Callable[[Store], Awaitable[None]]

    def __call__(self, storage: Store) -> Awaitable[None]:
        return self.run(storage)

    def __str__(self) -> str:
        return self.name


def _fresh(label: str) -> str:
    return f"conformance:{label}:{uuid.uuid4().hex}"


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


async def _expect_raises(
    kind: type[Exception] | tuple[type[Exception], ...],
    call: Callable[[], Awaitable[object]],
    what: str,
) -> Exception:
    try:
        await call()
    except kind as exc:
        return exc
    except Exception as exc:  # a wrong exception type is the finding
        raise ConformanceError(f"{what}: expected {_names(kind)}, got {exc!r}") from exc
    raise ConformanceError(f"{what}: expected {_names(kind)}, nothing was raised")


async def _expect_no_raise(call: Callable[[], Awaitable[object]], what: str) -> None:
    try:
        await call()
    except Exception as exc:  # the contract says this is fine: raising is the finding
        raise ConformanceError(f"{what} raised {exc!r}") from exc


def _set_value(storage: Store, key: Any) -> Awaitable[None]:
    return storage.set(key, "value")


def _count_hit_minute(storage: CounterStorage[Any], key: Any) -> Awaitable[tuple[int, int]]:
    return storage.count_hit(key, 60_000)


def _names(kind: type[Exception] | tuple[type[Exception], ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


async def check_round_trip(storage: Store) -> None:
    """Every JSON-shaped value reads back equal to what was set."""
    key = _fresh("round-trip")
    try:
        for value in SAMPLE_VALUES:
            await storage.set(key, value)
            got = await storage.get(key)
            _expect(got == value and type(got) is type(value), f"set {value!r}, got {got!r}")
            _expect(await storage.has(key), f"has() is false after set({value!r})")
    finally:
        await storage.delete(key)


async def check_missing_key(storage: Store) -> None:
    """A key never set reads as ``None`` and ``has`` is false."""
    key = _fresh("missing")
    _expect(await storage.get(key) is None, "get() of a missing key is not None")
    _expect(not await storage.has(key), "has() of a missing key is true")


async def check_none_is_a_value(storage: Store) -> None:
    """After ``set(k, None)``, ``has(k)`` is true and ``get(k)`` is ``None``."""
    key = _fresh("none")
    try:
        await storage.set(key, None)
        _expect(await storage.has(key), "has() is false after set(key, None)")
        _expect(await storage.get(key) is None, "get() after set(key, None) is not None")
    finally:
        await storage.delete(key)


async def check_overwrite(storage: Store) -> None:
    """A second ``set`` replaces the first value entirely."""
    key = _fresh("overwrite")
    try:
        await storage.set(key, {"a": 1, "b": 2})
        await storage.set(key, {"c": 3})
        got = await storage.get(key)
        _expect(got == {"c": 3}, f"overwrite left {got!r}, expected {{'c': 3}}")
    finally:
        await storage.delete(key)


async def check_delete(storage: Store) -> None:
    """``delete`` removes a key; deleting it again, or a key never set, is fine."""
    key = _fresh("delete")
    await storage.set(key, "value")
    await storage.delete(key)
    _expect(not await storage.has(key), "has() is true after delete()")
    _expect(await storage.get(key) is None, "get() is not None after delete()")
    await _expect_no_raise(partial(storage.delete, key), "delete() of a deleted key")
    await _expect_no_raise(
        partial(storage.delete, _fresh("never-set")), "delete() of a missing key"
    )


async def check_odd_keys(storage: Store) -> None:
    """Empty, blank, multi-line, unicode, glob-like and 10,000-character keys all work
    and stay distinct from each other."""
    try:
        for index, key in enumerate(ODD_KEYS):
            await storage.set(key, {"index": index})
        for index, key in enumerate(ODD_KEYS):
            got = await storage.get(key)
            _expect(got == {"index": index}, f"odd key {key[:20]!r}: got {got!r}")
            _expect(await storage.has(key), f"odd key {key[:20]!r}: has() is false")
        await storage.delete("*")
        _expect(await storage.has("?"), "deleting key '*' removed key '?'")
        _expect(not await storage.has("*"), "key '*' survived delete()")
    finally:
        for key in ODD_KEYS:
            await storage.delete(key)


async def check_non_str_key_rejected(storage: Store) -> None:
    """A non-``str`` key raises ``TypeError`` from every method, and nothing is written."""
    methods: list[tuple[str, Callable[[Any], Awaitable[object]]]] = [
        ("get", storage.get),
        ("set", partial(_set_value, storage)),
        ("delete", storage.delete),
        ("has", storage.has),
    ]
    if is_ttl_storage(storage):
        methods.append(("touch", storage.touch))
    if is_get_touch_storage(storage):
        methods.append(("get_and_touch", storage.get_and_touch))
    if is_counter_storage(storage):
        methods.append(("count_hit", partial(_count_hit_minute, storage)))
    for bad in BAD_KEYS:
        for name, method in methods:
            await _expect_raises(TypeError, partial(method, bad), f"{name}({bad!r})")
        for spelling in {str(bad), repr(bad)}:
            _expect(
                not await storage.has(spelling),
                f"a rejected key {bad!r} was written as {spelling!r}",
            )


async def check_unserializable_rejected(storage: Store) -> None:
    """A value JSON cannot hold raises ``TypeError``/``ValueError`` naming the key, and
    the store keeps what it had (and stays empty where it had nothing)."""
    key = _fresh("unserializable")
    bad_values: list[Any] = [
        {1, 2},
        object(),
        math.nan,
        math.inf,
        {"nested": [1, {"deeper": -math.inf}]},
        {"nested": {"a set": {1}}},
    ]
    try:
        for value in bad_values:
            exc = await _expect_raises(
                (TypeError, ValueError),
                partial(storage.set, key, value),
                f"set(key, {type(value).__name__})",
            )
            _expect(key in str(exc), f"error for {value!r} does not name the key: {exc}")
            _expect(not await storage.has(key), f"a rejected {value!r} was written")
        await storage.set(key, {"kept": True})
        for value in bad_values:
            await _expect_raises(
                (TypeError, ValueError),
                partial(storage.set, key, value),
                f"overwrite with {type(value).__name__}",
            )
            got = await storage.get(key)
            _expect(got == {"kept": True}, f"a rejected overwrite changed the value to {got!r}")
    finally:
        await storage.delete(key)


async def check_iteration(storage: Store) -> None:
    """``keys``, ``values`` and ``entries`` yield every key exactly once, with its value."""
    if not is_iterable_storage(storage):
        return
    namespace = _fresh("iterate")
    expected = {f"{namespace}:{index}": {"index": index} for index in range(25)}
    try:
        for key, value in expected.items():
            await storage.set(key, value)
        seen = [key async for key in storage.keys()]
        _expect(len(seen) == len(set(seen)), "keys() yielded a key more than once")
        mine = [key for key in seen if key.startswith(namespace)]
        _expect(sorted(mine) == sorted(expected), f"keys() yielded {len(mine)} of 25 keys")
        entries = [(key, value) async for key, value in storage.entries()]
        _expect(len(entries) == len({key for key, _ in entries}), "entries() repeated a key")
        got = {key: value for key, value in entries if key.startswith(namespace)}
        _expect(got == expected, "entries() does not match what was set")
        values = [value async for value in storage.values()]
        for value in expected.values():
            _expect(value in values, f"values() misses {value!r}")
        gone = next(iter(expected))
        await storage.delete(gone)
        left = [key async for key in storage.keys()]
        _expect(gone not in left, "keys() yields a deleted key")
    finally:
        for key in expected:
            await storage.delete(key)


async def check_touch(storage: Store) -> None:
    """``touch`` keeps a value as it is and never creates a missing key."""
    if not is_ttl_storage(storage):
        return
    key = _fresh("touch")
    try:
        await storage.set(key, {"kept": [1, 2]})
        await storage.touch(key)
        _expect(await storage.get(key) == {"kept": [1, 2]}, "touch() changed the value")
        missing = _fresh("touch-missing")
        await _expect_no_raise(partial(storage.touch, missing), "touch() of a missing key")
        _expect(not await storage.has(missing), "touch() created a missing key")
    finally:
        await storage.delete(key)


async def check_get_and_touch(storage: Store) -> None:
    """``get_and_touch`` reads what ``get`` reads and never creates a missing key."""
    if not is_get_touch_storage(storage):
        return
    key = _fresh("get-and-touch")
    try:
        await storage.set(key, {"counter": 7})
        got = await storage.get_and_touch(key)
        _expect(got == {"counter": 7}, f"get_and_touch() read {got!r}")
        _expect(await storage.get(key) == {"counter": 7}, "get_and_touch() changed the value")
        missing = _fresh("get-and-touch-missing")
        _expect(await storage.get_and_touch(missing) is None, "missing key read as not None")
        _expect(not await storage.has(missing), "get_and_touch() created a missing key")
    finally:
        await storage.delete(key)


async def check_count_hit(storage: Store) -> None:
    """``count_hit`` counts 1, 2, 3 in one window, stores ``{"hits", "resetAt"}``, and
    refuses to overwrite a live value that is not a counter."""
    if not is_counter_storage(storage):
        return
    key = _fresh("count-hit")
    window = 60_000
    try:
        before = time.time_ns() // 1_000_000
        first = await storage.count_hit(key, window)
        after = time.time_ns() // 1_000_000
        hits, reset_at = first
        _expect(hits == 1, f"first hit counted {hits}")
        # A store may use its own clock (a Redis server's); allow a second of skew.
        _expect(
            before + window - 1_000 <= reset_at <= after + window + 1_000,
            f"resetAt {reset_at} is not {window} ms after the first hit",
        )
        _expect(await storage.count_hit(key, window) == (2, reset_at), "second hit")
        _expect(await storage.count_hit(key, window) == (3, reset_at), "third hit")
        stored = await storage.get(key)
        _expect(
            stored == {"hits": 3, "resetAt": reset_at},
            f"stored entry is {stored!r}, expected {{'hits': 3, 'resetAt': {reset_at}}}",
        )
        for bad in (0, -1):
            await _expect_raises(
                ValueError, partial(storage.count_hit, key, bad), f"window_ms={bad}"
            )
        _expect(await storage.get(key) == stored, "a rejected count_hit changed the entry")
        foreign = {"counter": 1, "note": "another plugin's record"}
        await storage.set(key, foreign)
        exc = await _expect_raises(
            ValueError, lambda: storage.count_hit(key, window), "count_hit over a foreign value"
        )
        _expect(key in str(exc), f"the error does not name the key: {exc}")
        _expect(await storage.get(key) == foreign, "count_hit overwrote a foreign value")
    finally:
        await storage.delete(key)


_COMMON = (
    check_round_trip,
    check_missing_key,
    check_none_is_a_value,
    check_overwrite,
    check_delete,
    check_odd_keys,
    check_non_str_key_rejected,
    check_iteration,
    check_touch,
    check_get_and_touch,
    check_count_hit,
)


def conformance_checks(*, serializes: bool) -> list[Check]:
    """The checks for a store; ``serializes=True`` for stores that keep values as JSON."""
    functions = _COMMON + ((check_unserializable_rejected,) if serializes else ())
    return [Check(fn.__name__.removeprefix("check_"), fn) for fn in functions]


async def check_storage(storage: Store, *, serializes: bool) -> None:
    """Run every check in turn; raise ``ConformanceError`` at the first breach."""
    for check in conformance_checks(serializes=serializes):
        try:
            await check(storage)
        except ConformanceError as exc:
            raise ConformanceError(f"{check.name}: {exc}") from exc
