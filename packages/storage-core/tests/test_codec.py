"""check_key, encode_value and decode_value: the errors every serializing store shares."""

import json
import math
from typing import Any

import pytest

from puregram.storage import (
    CorruptValueError,
    check_key,
    decode_value,
    describe_key,
    encode_value,
)


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "value",
    [
        "text",
        "ünïcödé ✓ 🔑",
        "",
        0,
        -(2**63),
        1.5,
        True,
        None,
        [],
        {},
        [1, "two", None, [3.25]],
        {"counter": 1, "nested": {"deep": [True, None]}},
    ],
    ids=repr,
)
def test_json_shaped_values_round_trip(value: Any) -> None:
    assert decode_value("k", encode_value("k", value)) == value


def test_encoding_is_compact_and_keeps_unicode() -> None:
    assert encode_value("k", {"ü": [1, None]}) == '{"ü":[1,null]}'


def test_encoding_matches_what_json_parse_reads() -> None:
    """The text is plain JSON, readable by a Node.js bot sharing the store."""
    value = {"a": [1, 2.5, "x"], "b": None, "c": True}
    assert json.loads(encode_value("k", value)) == value


@pytest.mark.parametrize(
    ("value", "kind", "named"),
    [
        ({1, 2}, TypeError, "set"),
        (object(), TypeError, "object"),
        (b"bytes", TypeError, "bytes"),
        (1 + 2j, TypeError, "complex"),
        ({"nested": [1, {"deeper": {1}}]}, TypeError, "set"),
        (math.nan, ValueError, "float nan"),
        (math.inf, ValueError, "float inf"),
        (-math.inf, ValueError, "float -inf"),
        ({"nested": [1, {"deeper": -math.inf}]}, ValueError, "float -inf"),
        ((1.0, math.nan), ValueError, "float nan"),
        (_circular(), ValueError, "Circular reference"),
    ],
    ids=["set", "object", "bytes", "complex", "nested-set", "nan", "inf", "-inf",
         "nested-inf", "tuple-nan", "circular"],
)  # fmt: skip
def test_encode_errors_name_the_key_and_the_offending_type(
    value: Any, kind: type[Exception], named: str
) -> None:
    with pytest.raises(kind) as caught:
        encode_value("user:42", value)
    message = str(caught.value)
    assert "'user:42'" in message
    assert named in message
    assert isinstance(caught.value.__cause__, kind)


def test_a_long_key_is_shortened_in_messages() -> None:
    key = "k" * 10_000
    with pytest.raises(TypeError) as caught:
        encode_value(key, {1})
    message = str(caught.value)
    assert len(message) < 200
    assert "(10000 chars)" in message
    assert "kkkk...kkkk" in message


def test_a_short_key_is_shown_whole() -> None:
    key = "s" * 70
    with pytest.raises(TypeError, match=repr(key)):
        encode_value(key, {1})


@pytest.mark.parametrize(
    "raw",
    ['{"a":1}', b'{"a":1}', '{"a":1}'.encode("utf-16"), b'\xef\xbb\xbf{"a":1}'],
    ids=["str", "utf-8 bytes", "utf-16 bytes", "utf-8 bom"],
)
def test_decode_reads_str_and_bytes(raw: str | bytes) -> None:
    assert decode_value("k", raw) == {"a": 1}


@pytest.mark.parametrize(
    "raw",
    [
        "{bad",
        "",
        "undefined",
        "{'single': 1}",
        b"\xff\xff\xff",
        "NaN",
        "[1, Infinity]",
        "-Infinity",
    ],
)
def test_decode_errors_are_corrupt_value_errors_naming_the_key(raw: str | bytes) -> None:
    with pytest.raises(CorruptValueError) as caught:
        decode_value("session:7", raw)
    assert caught.value.key == "session:7"
    assert "'session:7'" in str(caught.value)
    assert "not valid JSON" in str(caught.value)


def test_corrupt_value_error_is_a_value_error_and_shortens_the_key() -> None:
    key = "x" * 500
    error = CorruptValueError(key, "why")
    assert isinstance(error, ValueError)
    assert error.key == key
    assert "(500 chars)" in str(error)
    assert str(error).endswith(": why")


def test_describe_key_keeps_a_short_key_and_shortens_a_long_one() -> None:
    assert describe_key("session:7") == "'session:7'"
    long_key = "a" * 40 + "z" * 160
    text = describe_key(long_key)
    assert text == f"'{'a' * 40}{'z' * 19}...{'z' * 14}' (200 chars)"
    assert len(text) < 100


def test_check_key_returns_a_str_key() -> None:
    assert check_key("k") == "k"
    assert check_key("") == ""


@pytest.mark.parametrize("bad", [1, None, b"k", ("k",), 1.5])
def test_check_key_rejects_others_naming_the_type_and_value(bad: Any) -> None:
    with pytest.raises(TypeError) as caught:
        check_key(bad)
    assert str(caught.value) == f"storage keys must be str, got {type(bad).__name__}: {bad!r}"


# --- what JSON would silently change, and what no backend can encode -------------------


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_dict_keys_that_are_not_str_are_refused_naming_the_path() -> None:
    with pytest.raises(TypeError, match=r"at \['a'\]\[0\], dict key 1 is a int"):
        encode_value("k", {"a": [{1: "x"}]})
    with pytest.raises(TypeError, match="dict key True is a bool"):
        encode_value("k", {True: 1})


def test_colliding_keys_are_refused() -> None:
    class Key(str):
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            return other is self

    with pytest.raises(ValueError, match="collides with another key"):
        encode_value("k", {Key("a"): 1, "a": 2})
    with pytest.raises(TypeError, match="dict key 1 is a int"):
        encode_value("k", {1: "a", "1": "b"})  # json would write {"1":"a","1":"b"}


def test_str_subclass_dict_keys_that_do_not_collide_are_fine() -> None:
    import enum

    class Color(str, enum.Enum):
        RED = "red"

    assert encode_value("k", {Color.RED: 1}) == '{"red":1}'


def test_nesting_past_max_depth_is_a_value_error_naming_the_key() -> None:
    from puregram.storage._codec import MAX_DEPTH

    assert encode_value("k", _nest(MAX_DEPTH - 1))  # MAX_DEPTH containers: fine
    for depth in (MAX_DEPTH + 1, 5_000):
        with pytest.raises(ValueError, match=r"'k' as JSON: the value is nested more than 512"):
            encode_value("k", _nest(depth))


def test_reading_json_nested_past_the_recursion_limit_is_corrupt() -> None:
    with pytest.raises(CorruptValueError, match="nested too deeply") as caught:
        decode_value("deep", "[" * 100_000 + "]" * 100_000)
    assert caught.value.key == "deep"


def test_a_value_that_is_not_text_is_corrupt() -> None:
    with pytest.raises(CorruptValueError, match="expected JSON text, the store holds a int"):
        decode_value("k", 5)  # type: ignore[arg-type]


def test_lone_surrogates_in_values_are_refused() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        encode_value("k", {"text": "a\udc80b"})


def test_check_key_refuses_lone_surrogates() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        check_key("user:\ud800")


def test_check_key_copies_str_subclasses_to_exact_str() -> None:
    class Evil(str):
        def __radd__(self, other: object) -> str:
            return "outside-the-prefix"

    key = check_key(Evil("42"))
    assert type(key) is str
    assert "prefix:" + key == "prefix:42"
