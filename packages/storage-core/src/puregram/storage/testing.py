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
cannot hold (or a key no backend can encode) is rejected with the store unchanged.
``ttl_ms=n`` says the store expires every entry ``n`` ms after its ``set`` and adds a
check that it really does (keep ``n`` short: the check waits that long, plus a margin).
Optional capabilities (iteration, ``touch``, ``get_and_touch``, ``count_hit``, ``lock``)
are checked when the store has them; when it does not, the check raises ``CheckSkipped``,
a ``unittest.SkipTest`` that pytest and unittest report as skipped, never as passed.
A store whose ``keys``/``values``/``entries`` take ``prefix=`` (``supports_prefix``) is
checked to list exactly the keys starting with it, glob and LIKE characters included; the
``namespaced`` checks run a view over the store (isolation, ``clear()``, capabilities).
Lease checks take a second instance on the same backend when you pass one
(``await check(store, twin=other)``) and then also check exclusion across the two. A
failed check raises ``ConformanceError``.
"""

from __future__ import annotations

import math
import reprlib
import time
import unittest
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ._async import gather, sleep
from ._errors import LeaseLostError
from ._namespaced import namespaced, supports_prefix
from ._protocols import (
    CounterStorage,
    KVStorage,
    LockStorage,
    is_counter_storage,
    is_get_touch_storage,
    is_iterable_storage,
    is_lock_storage,
    is_ttl_storage,
)

__all__ = ["Check", "CheckSkipped", "ConformanceError", "check_storage", "conformance_checks"]

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


class CheckSkipped(unittest.SkipTest):
    """The check does not apply to this store (it lacks the capability, or the check
    needs an option that was not given); test runners report it as skipped."""


@dataclass(frozen=True)
class Options:
    """What a check may know beyond the store: see ``conformance_checks``."""

    ttl_ms: int | None = None
    twin: Store | None = None


@dataclass(frozen=True)
class Check:
    """One named rule of the contract. Call it with a store (and, for the lease checks,
    optionally ``twin=``, a second instance on the same backend); it raises
    ``ConformanceError`` on a breach and ``CheckSkipped`` when it does not apply."""

    name: str
    run: Callable[[Store, Options], Awaitable[None]]
    ttl_ms: int | None = None

    def __call__(self, storage: Store, *, twin: Store | None = None) -> Awaitable[None]:
        return self.run(storage, Options(ttl_ms=self.ttl_ms, twin=twin))

    def __str__(self) -> str:
        return self.name


def _skip(reason: str) -> CheckSkipped:
    return CheckSkipped(reason)


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


async def check_round_trip(storage: Store, options: Options) -> None:
    """Every JSON-shaped value reads back equal to what was set."""
    key = _fresh("round-trip")
    try:
        for value in SAMPLE_VALUES:
            await storage.set(key, value)
            got = await storage.get(key)
            _expect(
                got == value and type(got) is type(value), f"set {reprlib.repr(value)}, got {got!r}"
            )
            _expect(await storage.has(key), f"has() is false after set({reprlib.repr(value)})")
    finally:
        await storage.delete(key)


async def check_missing_key(storage: Store, options: Options) -> None:
    """A key never set reads as ``None`` and ``has`` is false."""
    key = _fresh("missing")
    _expect(await storage.get(key) is None, "get() of a missing key is not None")
    _expect(not await storage.has(key), "has() of a missing key is true")


async def check_none_is_a_value(storage: Store, options: Options) -> None:
    """After ``set(k, None)``, ``has(k)`` is true and ``get(k)`` is ``None``."""
    key = _fresh("none")
    try:
        await storage.set(key, None)
        _expect(await storage.has(key), "has() is false after set(key, None)")
        _expect(await storage.get(key) is None, "get() after set(key, None) is not None")
    finally:
        await storage.delete(key)


async def check_overwrite(storage: Store, options: Options) -> None:
    """A second ``set`` replaces the first value entirely."""
    key = _fresh("overwrite")
    try:
        await storage.set(key, {"a": 1, "b": 2})
        await storage.set(key, {"c": 3})
        got = await storage.get(key)
        _expect(got == {"c": 3}, f"overwrite left {got!r}, expected {{'c': 3}}")
    finally:
        await storage.delete(key)


async def check_delete(storage: Store, options: Options) -> None:
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


async def check_odd_keys(storage: Store, options: Options) -> None:
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


async def check_non_str_key_rejected(storage: Store, options: Options) -> None:
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


async def check_unserializable_rejected(storage: Store, options: Options) -> None:
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
        {1: "a", "1": "b"},  # json would write two "1" keys and read back one
        {"nested": [{2: "int key"}]},
        "lone \ud800 surrogate",
        {"key \udfff": 1},
        _nested(600),  # deeper than puregram.storage's MAX_DEPTH (512)
        _nested(1_100),  # deeper than Python's default recursion limit
    ]
    try:
        for value in bad_values:
            exc = await _expect_raises(
                (TypeError, ValueError),
                partial(storage.set, key, value),
                f"set(key, {type(value).__name__})",
            )
            _expect(
                key in str(exc), f"error for {reprlib.repr(value)} does not name the key: {exc}"
            )
            _expect(not await storage.has(key), f"a rejected {reprlib.repr(value)} was written")
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


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


async def check_unencodable_key_rejected(storage: Store, options: Options) -> None:
    """A key with a lone surrogate (which UTF-8, and so no backend, can encode) raises
    ``ValueError`` naming the problem, and nothing is written."""
    bad = "key \ud800 with a lone surrogate"
    await _expect_raises(ValueError, partial(_set_value, storage, bad), "set(lone surrogate)")
    await _expect_raises(ValueError, partial(storage.get, bad), "get(lone surrogate)")
    clean = bad.encode("utf-8", "replace").decode("utf-8")
    _expect(not await storage.has(clean), "a rejected key was written in another spelling")


async def check_iteration(storage: Store, options: Options) -> None:
    """``keys``, ``values`` and ``entries`` yield every key exactly once, with its value."""
    if not is_iterable_storage(storage):
        raise _skip("the store is not an IterableStorage")
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
            _expect(value in values, f"values() misses {reprlib.repr(value)}")
        gone = next(iter(expected))
        await storage.delete(gone)
        left = [key async for key in storage.keys()]
        _expect(gone not in left, "keys() yields a deleted key")
    finally:
        for key in expected:
            await storage.delete(key)


async def check_touch(storage: Store, options: Options) -> None:
    """``touch`` keeps a value as it is and never creates a missing key."""
    if not is_ttl_storage(storage):
        raise _skip("the store is not a TtlStorage")
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


async def check_get_and_touch(storage: Store, options: Options) -> None:
    """``get_and_touch`` reads what ``get`` reads and never creates a missing key."""
    if not is_get_touch_storage(storage):
        raise _skip("the store has no get_and_touch")
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


async def check_count_hit(storage: Store, options: Options) -> None:
    """``count_hit`` counts 1, 2, 3 in one window, stores ``{"hits", "resetAt"}``, and
    refuses to overwrite a live value that is not a counter."""
    if not is_counter_storage(storage):
        raise _skip("the store is not a CounterStorage")
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
        bad_types: tuple[Any, ...] = (1.5, True, "60000", None)
        for bad_type in bad_types:
            await _expect_raises(
                TypeError,
                partial(storage.count_hit, _fresh("count-hit-type"), bad_type),
                f"window_ms={bad_type!r}",
            )
    finally:
        await storage.delete(key)


async def check_count_hit_is_exact(storage: Store, options: Options) -> None:
    """50 concurrent ``count_hit`` calls on one key count 1 to 50, each number once."""
    if not is_counter_storage(storage):
        raise _skip("the store is not a CounterStorage")
    key = _fresh("count-hit-exact")
    counts: list[int] = []

    async def hit() -> None:
        hits, _ = await storage.count_hit(key, 60_000)
        counts.append(hits)

    try:
        await gather(*(hit for _ in range(50)))
        _expect(sorted(counts) == list(range(1, 51)), f"50 concurrent hits counted {counts}")
    finally:
        await storage.delete(key)


async def check_ttl_expires(storage: Store, options: Options) -> None:
    """With ``ttl_ms`` given: an entry is live right after ``set`` and gone (``get`` and
    ``has``) once ``ttl_ms`` has passed, with a margin."""
    if options.ttl_ms is None:
        raise _skip("conformance_checks(ttl_ms=...) was not given")
    key = _fresh("ttl")
    try:
        await storage.set(key, {"short": "lived"})
        _expect(await storage.has(key), "an entry is missing right after set()")
        await sleep(options.ttl_ms / 1000 * 1.5 + 0.1)
        _expect(await storage.get(key) is None, f"get() still reads it {options.ttl_ms} ms on")
        _expect(not await storage.has(key), f"has() is still true {options.ttl_ms} ms on")
    finally:
        await storage.delete(key)


# Sub-keys that trip a prefix listing built on a glob (Redis MATCH), on LIKE, or on a key
# range whose upper bound is ``prefix + "\uffff"`` (an astral character sorts past it).
PREFIX_TAILS = ("", "a", "*", "?", "[a]", "%", "_", "\\", "ключ", "\uffff", "🔑", "\U0010ffff")


async def check_prefix_iteration(storage: Store, options: Options) -> None:
    """A store that ``supports_prefix`` lists, for ``keys(prefix=p)``, ``values`` and
    ``entries``, exactly the keys starting with ``p``: glob, LIKE and range-edge
    characters in ``p`` or after it are plain characters."""
    if not supports_prefix(storage):
        raise _skip("keys()/values()/entries() take no prefix= (not supports_prefix)")
    store: Any = storage
    base = _fresh("prefix")
    # Each inner prefix ends in a character a glob or LIKE would read as a wildcard.
    spaces = [f"{base}:*", f"{base}:?", f"{base}:[a]", f"{base}:%", f"{base}:_", f"{base}:\\"]
    near = [f"{base}:x", f"{base}:", f"{base}:+", f"{base};", f"{base}:*".upper()]
    written = [space + tail for space in spaces for tail in PREFIX_TAILS] + near
    try:
        for index, key in enumerate(written):
            await store.set(key, {"i": index})
        for space in spaces:
            expected = {key: {"i": i} for i, key in enumerate(written) if key.startswith(space)}
            keys = [key async for key in store.keys(prefix=space)]
            _expect(len(keys) == len(set(keys)), f"keys(prefix={space!r}) repeated a key")
            _expect(
                sorted(keys) == sorted(expected),
                f"keys(prefix={space!r}) listed {sorted(set(keys) ^ set(expected))!r} wrongly",
            )
            entries = {key: value async for key, value in store.entries(prefix=space)}
            _expect(entries == expected, f"entries(prefix={space!r}) does not match")
            values = [value async for value in store.values(prefix=space)]
            _expect(
                sorted(v["i"] for v in values) == sorted(v["i"] for v in expected.values()),
                f"values(prefix={space!r}) does not match",
            )
        everything = {key async for key in store.keys(prefix=f"{base}:")}
        _expect(
            everything == {key for key in written if key.startswith(f"{base}:")},
            "keys(prefix=...) of the enclosing namespace does not list them all",
        )
        _expect(
            set(written) <= {key async for key in store.keys(prefix="")},
            "keys(prefix='') does not list every key",
        )
    finally:
        for key in written:
            await store.delete(key)


async def check_namespaced_isolation(storage: Store, options: Options) -> None:
    """Two ``namespaced`` views whose prefixes are not prefixes of each other share no
    key: the same key holds two values, each view lists only its own (stripped), and
    the store holds them at ``prefix + key``."""
    base = _fresh("namespaced")
    one = namespaced(storage, f"{base}:one:*[")
    two = namespaced(storage, f"{base}:two:?%")
    keys = ["k", "", "a:b", "*", "ключ"]
    try:
        for key in keys:
            await one.set(key, {"in": "one", "key": key})
            await two.set(key, {"in": "two", "key": key})
        for key in keys:
            _expect(await one.get(key) == {"in": "one", "key": key}, f"view one read {key!r}")
            _expect(await two.get(key) == {"in": "two", "key": key}, f"view two read {key!r}")
            got = await storage.get(f"{base}:one:*[{key}")
            _expect(got == {"in": "one", "key": key}, f"the store holds {got!r} at prefix+key")
        await one.delete("k")
        _expect(not await one.has("k"), "delete() through a view left the key")
        _expect(await two.has("k"), "delete() through one view removed the other's key")
        if is_iterable_storage(storage):
            view: Any = one
            listed = [key async for key in view.keys()]
            _expect(sorted(listed) == sorted(keys[1:]), f"view one listed {listed!r}")
            entries = {key: value async for key, value in view.entries()}
            _expect(all(value["in"] == "one" for value in entries.values()), "a view leaked values")
            _expect(sorted(entries) == sorted(keys[1:]), f"view one's entries are {entries!r}")
    finally:
        for key in keys:
            await one.delete(key)
            await two.delete(key)


async def check_namespaced_clear(storage: Store, options: Options) -> None:
    """``namespaced(...).clear()`` deletes its namespace, returns how many, and leaves
    every other key (a sibling namespace, the bare prefix, a longer look-alike)."""
    if not is_iterable_storage(storage):
        raise _skip("the store is not an IterableStorage (clear() lists the namespace)")
    base = _fresh("namespaced-clear")
    view = namespaced(storage, f"{base}:ns:")
    kept = [f"{base}:ns", f"{base}:ns;x", f"{base}:other:k", f"{base}:n"]
    try:
        for index in range(30):
            await view.set(f"k{index}", index)
        for key in kept:
            await storage.set(key, "kept")
        _expect(await view.clear() == 30, "clear() did not report 30 deletions")
        listed: Any = view
        _expect([key async for key in listed.keys()] == [], "clear() left keys in the view")
        for key in kept:
            _expect(await storage.get(key) == "kept", f"clear() deleted {key!r} outside it")
        _expect(await view.clear() == 0, "a second clear() found keys")
    finally:
        for key in kept:
            await storage.delete(key)
        await view.clear()


async def check_namespaced_capabilities(storage: Store, options: Options) -> None:
    """A view has exactly the store's capabilities (each ``is_*`` guard agrees), lists
    natively when the store does, and ``touch``, ``get_and_touch``, ``count_hit`` and
    ``lock`` act on ``prefix + key``."""
    prefix = _fresh("namespaced-caps") + ":"
    view: Any = namespaced(storage, prefix)
    guards = (
        is_iterable_storage,
        is_ttl_storage,
        is_get_touch_storage,
        is_counter_storage,
        is_lock_storage,
    )
    for guard in guards:
        _expect(guard(view) == guard(storage), f"{guard.__name__} of the view is {guard(view)}")
    _expect(
        supports_prefix(view) == is_iterable_storage(storage),
        "a view of an iterable store does not take keys(prefix=...)",
    )
    _expect(
        view.native_prefix == supports_prefix(storage),
        "the view does not list natively where the store can",
    )
    try:
        await view.set("k", {"v": 1})
        if is_ttl_storage(storage):
            await view.touch("k")
            await view.touch("missing")
            _expect(not await storage.has(prefix + "missing"), "touch() created a key")
        if is_get_touch_storage(storage):
            _expect(await view.get_and_touch("k") == {"v": 1}, "get_and_touch() misread")
        if is_counter_storage(storage):
            hits, reset_at = await view.count_hit("hits", 60_000)
            _expect(hits == 1, f"count_hit() through a view counted {hits}")
            stored = await storage.get(prefix + "hits")
            _expect(stored == {"hits": 1, "resetAt": reset_at}, f"the counter is {stored!r}")
        if is_lock_storage(storage):
            async with view.lock("k") as lease:
                _expect(lease.key == "k", f"the view's lease.key is {lease.key!r}")
                _expect(lease.found and lease.value == {"v": 1}, "the lease misread")
                await lease.save({"v": 2})
            _expect(await storage.get(prefix + "k") == {"v": 2}, "lease.save() missed")
    finally:
        for key in ("k", "hits", "missing"):
            await storage.delete(prefix + key)


def _lock_storage(storage: Store) -> LockStorage[Any]:
    if not is_lock_storage(storage):
        raise _skip("the store is not a LockStorage")
    return storage


async def check_lease_reads_and_writes(storage: Store, options: Options) -> None:
    """A lease reads the value (and whether it was found); ``save`` and ``remove`` write
    and end it; leaving the block (even by an exception) writes nothing and frees the key."""
    store = _lock_storage(storage)
    key = _fresh("lease")
    try:
        async with store.lock(key) as lease:
            _expect(lease.key == key, f"lease.key is {lease.key!r}")
            _expect(lease.value is None and not lease.found, "a missing key read as found")
            await lease.save({"n": 1})
        _expect(await store.get(key) == {"n": 1}, "lease.save() did not store the value")
        async with store.lock(key) as lease:
            _expect(lease.value == {"n": 1} and lease.found, f"lease read {lease.value!r}")
        try:
            async with store.lock(key, lease_ms=5_000) as lease:
                raise _Planted
        except _Planted:
            pass
        _expect(await store.get(key) == {"n": 1}, "leaving a lease changed the value")
        async with store.lock(key) as lease:  # free again (or this would wait 5 s)
            await lease.remove()
        _expect(not await store.has(key), "lease.remove() left the key")
        async with store.lock(key) as lease:
            await lease.save(None)
        async with store.lock(key) as lease:
            _expect(lease.found and lease.value is None, "a stored None read as not found")
            await lease.release(touch=True)
        _expect(await store.has(key), "release(touch=True) removed the key")
    finally:
        await store.delete(key)


class _Planted(Exception):
    pass


async def check_lease_exclusion(storage: Store, options: Options) -> None:
    """20 read-modify-write cycles under ``lock`` (split over the twin instance when one
    is given) lose no increment."""
    store = _lock_storage(storage)
    twin = _lock_storage(options.twin) if options.twin is not None else store
    key = _fresh("lease-exclusion")

    async def bump(on: LockStorage[Any]) -> None:
        async with on.lock(key) as lease:
            value = lease.value or 0
            await sleep(0.001)  # let the others run while the key is held
            await lease.save(value + 1)

    try:
        await gather(*(partial(bump, store if n % 2 else twin) for n in range(20)))
        got = await store.get(key)
        _expect(got == 20, f"20 increments under lock() left {got!r}")
    finally:
        await store.delete(key)


async def check_lease_expires_and_fences(storage: Store, options: Options) -> None:
    """A holder that never lets go frees the key after ``lease_ms``; its later ``save``
    is refused with ``LeaseLostError`` and the next holder's value stays."""
    store = _lock_storage(storage)
    other = _lock_storage(options.twin) if options.twin is not None else store
    key = _fresh("lease-expiry")
    hung = store.lock(key, lease_ms=200)
    stale = await hung.__aenter__()  # taken, never released: a dead or hung holder
    try:
        started = time.monotonic()
        async with other.lock(key) as lease:
            waited = time.monotonic() - started
            await lease.save("next holder")
        _expect(waited >= 0.1, f"a held key was taken after {waited * 1000:.0f} ms, not 200")
        _expect(waited < 10, f"a dead holder's lease held the key {waited:.1f} s")
        await _expect_raises(
            LeaseLostError, partial(stale.save, "stale"), "save() under a lost lease"
        )
        _expect(await store.get(key) == "next holder", "a stale save overwrote the record")
    finally:
        await hung.__aexit__(None, None, None)
        await store.delete(key)


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
    check_count_hit_is_exact,
    check_ttl_expires,
    check_lease_reads_and_writes,
    check_lease_exclusion,
    check_lease_expires_and_fences,
    check_prefix_iteration,
    check_namespaced_isolation,
    check_namespaced_clear,
    check_namespaced_capabilities,
)

_SERIALIZING = (check_unserializable_rejected, check_unencodable_key_rejected)


def conformance_checks(*, serializes: bool, ttl_ms: int | None = None) -> list[Check]:
    """The checks for a store; ``serializes=True`` for stores that keep values as JSON,
    ``ttl_ms`` when every entry of the store expires that many ms after its ``set``."""
    functions = _COMMON + (_SERIALIZING if serializes else ())
    return [Check(fn.__name__.removeprefix("check_"), fn, ttl_ms) for fn in functions]


async def check_storage(
    storage: Store,
    *,
    serializes: bool,
    ttl_ms: int | None = None,
    twin: Store | None = None,
) -> list[str]:
    """Run every check in turn; raise ``ConformanceError`` at the first breach. Returns
    the names of the checks that did not apply (skipped)."""
    skipped: list[str] = []
    for check in conformance_checks(serializes=serializes, ttl_ms=ttl_ms):
        try:
            await check(storage, twin=twin)
        except CheckSkipped:
            skipped.append(check.name)
        except ConformanceError as exc:
            raise ConformanceError(f"{check.name}: {exc}") from exc
    return skipped
