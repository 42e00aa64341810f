"""``Session``: the mapping a handler sees, with attribute access and ttl'd keys."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from puregram.session import Session, ttl


class Clock:
    """A fake unix-ms clock that tests move by hand."""

    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def make(data: dict[str, Any] | None = None, clock: Clock | None = None) -> Session:
    return Session(dict(data or {}), {}, clock or Clock())


def test_attribute_and_item_access_are_the_same_key() -> None:
    s = make({"counter": 1})
    s.counter += 1
    s["counter"] += 1
    assert s.counter == 3
    assert s["counter"] == 3
    assert dict(s) == {"counter": 3}


def test_missing_key_raises_attribute_error_and_key_error() -> None:
    s = make()
    with pytest.raises(AttributeError, match="'nope'"):
        _ = s.nope
    with pytest.raises(KeyError):
        _ = s["nope"]
    assert getattr(s, "nope", 5) == 5
    assert s.get("nope") is None


def test_delete_by_attribute_and_item() -> None:
    s = make({"a": 1, "b": 2})
    del s.a
    del s["b"]
    assert len(s) == 0
    with pytest.raises(AttributeError):
        del s.a


def test_method_names_are_reachable_only_as_items() -> None:
    s = make()
    with pytest.raises(AttributeError, match=r"session\['items'\]"):
        s.items = [1]  # type: ignore[method-assign,assignment]
    s["items"] = [1]
    assert s["items"] == [1]
    assert callable(s.items)


def test_reserved_and_non_str_keys_are_rejected() -> None:
    s = make()
    with pytest.raises(ValueError, match="__ttl"):
        s["__ttl"] = {}
    with pytest.raises(TypeError, match="int"):
        s[1] = "x"  # type: ignore[index]
    assert len(s) == 0


def test_dunder_lookups_are_not_session_keys() -> None:
    s = make({"__deepcopy__": 1, "nested": {"a": [1]}})
    clone = copy.deepcopy(s)
    assert clone == s
    assert clone is not s


def test_ttl_key_vanishes_for_every_kind_of_read() -> None:
    clock = Clock()
    s = make({"keep": 1}, clock)
    s.user = ttl("ann", 5_000)
    clock.now += 5_000  # exactly t: still there (expired once now - at > t)
    assert s.user == "ann"
    clock.now += 1
    assert "user" not in s
    assert s.get("user") is None
    assert list(s) == ["keep"]
    assert len(s) == 1


def test_every_assignment_restarts_the_clock() -> None:
    clock = Clock()
    s = make(clock=clock)
    s.counter = ttl(0, 5_000)
    clock.now += 4_000
    s.counter += 1
    clock.now += 5_000
    assert s.counter == 1
    clock.now += 1
    assert "counter" not in s


def test_ttl_zero_removes_the_expiry() -> None:
    clock = Clock()
    s = make(clock=clock)
    s.counter = ttl(0, 5_000)
    s.counter = ttl(2, 0)
    clock.now += 50_000
    assert s.counter == 2
    assert s._record() == {"counter": 2}


def test_ttl_rejects_bad_ms() -> None:
    with pytest.raises(ValueError, match="-1"):
        ttl(1, -1)
    with pytest.raises(TypeError, match="float"):
        ttl(1, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bool"):
        ttl(1, True)


def test_ttl_works_through_update_and_setdefault() -> None:
    clock = Clock()
    s = make(clock=clock)
    s.update(a=ttl(1, 10))
    s.setdefault("b", ttl(2, 10))
    assert s._record() == {
        "a": 1,
        "b": 2,
        "__ttl": {"a": {"t": 10, "at": clock.now}, "b": {"t": 10, "at": clock.now}},
    }


def test_clear_drops_data_and_metadata() -> None:
    s = make({"a": 1})
    s.b = ttl(2, 10)
    s.clear()
    assert s._record() == {}
