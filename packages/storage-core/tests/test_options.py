"""The one option checker: the same mistake gives the same exception in every package."""

from __future__ import annotations

from typing import Any

import pytest

from puregram.storage import (
    MAX_COUNT,
    MAX_MS,
    check_count,
    check_ms,
    check_seconds,
    check_text,
)


@pytest.mark.parametrize("good", [1, 30_000, MAX_MS, 2.0, 10.0**6])
def test_check_ms_takes_whole_milliseconds(good: Any) -> None:
    got = check_ms("ttl_ms", good)
    assert got == good
    assert type(got) is int


@pytest.mark.parametrize("bad", [True, False, 1.5, float("nan"), float("inf"), "10", None, [1]])
def test_check_ms_wrong_type_is_a_type_error_naming_the_option(bad: Any) -> None:
    with pytest.raises(TypeError, match="Store option 'ttl_ms' must be a whole number"):
        check_ms("ttl_ms", bad, owner="Store")


@pytest.mark.parametrize("bad", [0, -1, MAX_MS + 1, 2**63 - 1, 10**20])
def test_check_ms_out_of_range_is_a_value_error_naming_the_option(bad: int) -> None:
    with pytest.raises(ValueError, match=f"option 'ttl_ms' must be from 1 to {MAX_MS}"):
        check_ms("ttl_ms", bad)


def test_max_ms_keeps_now_plus_ttl_exact_in_a_double() -> None:
    # Lua (Redis scripts) and JavaScript (a Node.js bot) hold numbers as doubles.
    now = 4_102_444_800_000  # the year 2100 in unix ms
    assert now + MAX_MS < 2**53


@pytest.mark.parametrize("bad", [True, 1.0, "3", None])
def test_check_count_wrong_type(bad: Any) -> None:
    with pytest.raises(TypeError, match="option 'limit' must be an int"):
        check_count("limit", bad)


@pytest.mark.parametrize("bad", [0, -3, MAX_COUNT + 1])
def test_check_count_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match=f"option 'limit' must be from 1 to {MAX_COUNT}"):
        check_count("limit", bad)


@pytest.mark.parametrize(("seconds", "ms"), [(1, 1_000), (0.0001, 1), (2.5, 2_500)])
def test_check_seconds_gives_whole_milliseconds(seconds: float, ms: int) -> None:
    assert check_seconds("window", seconds) == ms


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), 1e16, 10**13])
def test_check_seconds_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="option 'window' must be a finite number of seconds"):
        check_seconds("window", bad)


@pytest.mark.parametrize("bad", [True, "60", None])
def test_check_seconds_wrong_type(bad: Any) -> None:
    with pytest.raises(TypeError, match="option 'window' must be seconds"):
        check_seconds("window", bad)


def test_check_text_copies_a_str_subclass_to_a_plain_str() -> None:
    class Sneaky(str):
        def __add__(self, other: object) -> str:
            return "elsewhere:"

    got = check_text("prefix", Sneaky("mine:"))
    assert type(got) is str
    assert got == "mine:"
    assert got + "k" == "mine:k"


def test_check_text_refuses_lone_surrogates_and_non_str() -> None:
    with pytest.raises(ValueError, match="option 'prefix' holds a lone surrogate"):
        check_text("prefix", "p\ud800:")
    with pytest.raises(TypeError, match="option 'prefix' must be a str"):
        check_text("prefix", b"p:")
