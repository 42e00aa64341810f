"""A loaded session copies a value when the handler first reads it, and compares only what
the handler could have changed. These pin that nothing a user relies on moved: a change at
any depth is saved, an unchanged session is not written, the store's record never changes
before the save, and a reference the handler keeps cannot reach the store.

Over ``MemoryStorage``, which holds records by reference (the case where a missed copy
would show), with the store's lease and with ``isolation="process"``.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from puregram.session import Session, session, ttl
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio

ISOLATIONS = pytest.mark.parametrize("isolation", ["store", "process"])


class Update:
    def __init__(self, sender_id: object = 1) -> None:
        self.sender_id = sender_id
        self.session: Any = None


async def run(mw: Any, handler: Any) -> Session:
    context = Update(1)

    async def next_() -> None:
        result = handler(context.session)  # a lambda, or an async handler
        if inspect.isawaitable(result):
            await result

    await mw(context, next_)
    return context.session  # type: ignore[no-any-return]


def record() -> dict[str, Any]:
    return {
        "counter": 1,
        "flag": True,
        "ratio": 1.0,
        "name": "ann",
        "none": None,
        "profile": {"tags": ["a"], "deep": {"x": [1, {"y": 2}]}},
        "items": [1, 2, 3],
        'ключ "\n\u2028': {"é": "\u0000\U0001f600", "</script>": [-0.0, 1e300]},
    }


CHANGES: dict[str, Any] = {
    "deep nested": lambda s: s.profile["deep"]["x"][1].update(y=3),
    "append": lambda s: s["items"].append(4),
    "bool to int": lambda s: s.__setitem__("flag", 1),  # == True, but not the same JSON
    "int to float": lambda s: s.__setitem__("counter", 1.0),
    "float to int": lambda s: s.__setitem__("ratio", 1),
    "int to bool": lambda s: s.__setitem__("counter", True),
    "none to false": lambda s: s.__setitem__("none", False),
    "list to tuple of other values": lambda s: s.__setitem__("items", (1, 2)),
    "delete": lambda s: s.pop("name"),
    "add": lambda s: s.__setitem__("new", {}),
    "delete and add": lambda s: (s.pop("name"), s.__setitem__("other", "ann")),
    "clear inner": lambda s: s.profile.clear(),
    "via items()": lambda s: next(v for k, v in s.items() if k == "profile")["tags"].append("b"),
    "via values()": lambda s: next(v for v in s.values() if isinstance(v, list)).append(9),
    "popitem": lambda s: s.popitem(),
    "setdefault existing inner": lambda s: s.setdefault("profile", {})["tags"].clear(),
}


@ISOLATIONS
@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
async def test_every_change_is_saved(isolation: Any, change: str) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": record()})
    mw = session(storage=store, isolation=isolation)
    expected = Session(record(), {}, lambda: 0)
    CHANGES[change](expected)
    await run(mw, CHANGES[change])
    as_json = json.loads(json.dumps(dict(expected.items())))
    assert await store.get("1") == as_json
    # the type survives too, not only ==
    saved = store._data["1"]
    assert [type(v) for v in saved.values()] == [type(v) for v in as_json.values()]


UNCHANGED: dict[str, Any] = {
    "read one key": lambda s: s.profile["tags"][0],
    "read every key": lambda s: list(s.items()),
    "assign equal values": lambda s: (
        s.__setitem__("counter", 1),
        s.__setitem__("profile", {"tags": ["a"], "deep": {"x": [1, {"y": 2}]}}),
        s.__setitem__("items", [1, 2, 3]),
    ),
    "change and undo": lambda s: (s["items"].append(4), s["items"].pop()),
    "repr": lambda s: repr(s),
    "len, in, iter": lambda s: (len(s), "x" in s, list(s)),
}


@ISOLATIONS
@pytest.mark.parametrize("use", list(UNCHANGED), ids=list(UNCHANGED))
async def test_an_unchanged_session_is_not_written(isolation: Any, use: str) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": record()})
    stored = store._data["1"]
    mw = session(storage=store, isolation=isolation)
    await run(mw, UNCHANGED[use])
    assert store._data["1"] is stored  # not rewritten
    assert stored == record()


@ISOLATIONS
async def test_the_stored_record_is_never_the_handlers(isolation: Any) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": record()})
    mw = session(storage=store, isolation=isolation)
    kept: dict[str, Any] = {}

    async def handler(s: Session) -> None:
        kept["profile"] = s.profile
        kept["items"] = s["items"]
        s.counter += 1  # a change elsewhere: the record is saved
        s.fresh = {"a": [1]}
        kept["fresh"] = s.fresh

    await run(mw, handler)
    assert (await store.get("1") or {})["counter"] == 2
    kept["profile"]["tags"].append("leaked")
    kept["items"].append("leaked")
    kept["fresh"]["a"].append("leaked")
    assert await store.get("1") == {**record(), "counter": 2, "fresh": {"a": [1]}}

    async def fail(s: Session) -> None:
        s.profile["tags"].append("unsaved")
        raise LookupError

    with pytest.raises(LookupError):
        await run(mw, fail)
    assert store._data["1"]["profile"]["tags"] == ["a"]


@ISOLATIONS
async def test_ttl_metadata_changes_are_saved_and_unchanged_is_not(isolation: Any) -> None:
    now = [1_000]
    store: MemoryStorage[Any] = MemoryStorage()
    mw = session(storage=store, isolation=isolation, clock=lambda: now[0])

    async def mark(s: Session) -> None:
        s.code = ttl("x", 100)

    await run(mw, mark)
    stored = store._data["1"]
    await run(mw, lambda s: s.get("code"))
    assert store._data["1"] is stored
    now[0] = 1_050
    await run(mw, mark)  # reassigning restarts the clock: a change
    assert store._data["1"] == {"code": "x", "__ttl": {"code": {"t": 100, "at": 1_050}}}

    async def unmark(s: Session) -> None:
        s.code = ttl("x", 0)

    await run(mw, unmark)
    assert store._data["1"] == {"code": "x"}


@ISOLATIONS
async def test_stale_metadata_in_the_record_is_cleaned(isolation: Any) -> None:
    store: MemoryStorage[Any] = MemoryStorage(
        {"1": {"a": 1, "__ttl": {"gone": {"t": 5, "at": 0}, "a": "junk"}}}
    )
    mw = session(storage=store, isolation=isolation, clock=lambda: 0)
    await run(mw, lambda s: s.get("a"))
    assert store._data["1"] == {"a": 1}


@ISOLATIONS
@pytest.mark.parametrize("junk", [None, 5, [], {}])
async def test_a_junk_ttl_entry_is_never_a_session_key(isolation: Any, junk: object) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": {"a": 1, "__ttl": junk}})
    mw = session(storage=store, isolation=isolation)
    seen: list[list[str]] = []
    await run(mw, lambda s: seen.append(list(s)))
    assert seen == [["a"]]
    assert store._data["1"] == {"a": 1}  # cleaned on the way


@ISOLATIONS
async def test_a_lone_surrogate_is_refused_and_nothing_saved(isolation: Any) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": record()})
    mw = session(storage=store, isolation=isolation)

    async def bad(s: Session) -> None:
        s.name = "ann\ud800"

    with pytest.raises(ValueError, match="lone surrogate"):
        await run(mw, bad)
    assert await store.get("1") == record()

    async def fine(s: Session) -> None:
        s.name = "анна"

    await run(mw, fine)
    assert (await store.get("1") or {})["name"] == "анна"


@ISOLATIONS
async def test_errors_still_name_the_session_key(isolation: Any) -> None:
    store: MemoryStorage[Any] = MemoryStorage({"1": record()})
    mw = session(storage=store, isolation=isolation)

    async def bad(s: Session) -> None:
        s.profile["tags"].append({1, 2})

    with pytest.raises(TypeError, match="session key 'profile' holds a dict JSON cannot hold"):
        await run(mw, bad)

    async def bad_key(s: Session) -> None:
        s.profile["deep"][1] = "x"

    with pytest.raises(TypeError, match=r"at \['profile'\]\['deep'\], dict key 1 is a int"):
        await run(mw, bad_key)
    assert await store.get("1") == record()


def test_len_and_iter_with_many_ttl_keys_expire_on_time() -> None:
    now = [0]
    s = Session({}, {}, lambda: now[0])
    for i in range(1_000):
        s[f"k{i}"] = ttl(i, 1_000 + i)  # k{i} expires once now > 1000 + i
    s["forever"] = 1
    for _ in range(3):
        s["k5"] = 5  # reassigning restarts its clock: stale heap entries are skipped
    assert len(s) == 1_001
    now[0] = 1_010
    assert len(s) == 1_001 - 10  # k0..k9 are gone, k5 was reassigned at 0: gone too
    assert "k9" not in s
    assert "k10" in s
    now[0] = 1_500
    assert sorted(s)[:2] == ["forever", "k500"]
    assert len(s) == 1 + 500  # k500 expires once now > 1500
    now[0] = 10_000
    assert list(s) == ["forever"]
    assert s._record() == {"forever": 1}


def test_popitem_is_the_last_item_as_dict() -> None:
    s = Session({"a": 1, "b": [2]}, {}, lambda: 0)
    assert s.popitem() == ("b", [2])
    assert s.popitem() == ("a", 1)
    with pytest.raises(KeyError, match="empty"):
        s.popitem()


def test_popitem_skips_expired_keys() -> None:
    now = [0]
    s = Session({"a": 1}, {}, lambda: now[0])
    s.b = ttl(2, 10)
    now[0] = 11
    assert s.popitem() == ("a", 1)
    assert len(s) == 0
