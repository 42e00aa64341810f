"""The one option checker every puregram package uses.

The same mistake raises the same exception everywhere: a wrong type (``bool`` included,
and a float with a fraction where whole milliseconds are needed) is a ``TypeError``, a
value out of range a ``ValueError``; both messages name the option. The upper bounds are
ones every backend accepts: ``MAX_MS`` keeps ``now + ms`` an exact integer in a double
(Lua in Redis, JavaScript in a Node.js bot reading the same record) and inside a Redis
``PX`` and a SQLite ``INTEGER``.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "MAX_COUNT",
    "MAX_MS",
    "check_count",
    "check_ms",
    "check_seconds",
    "check_text",
    "has_lone_surrogate",
]

MAX_MS = 10**15
"""The longest duration in milliseconds an option takes: about 31,700 years."""

MAX_COUNT = 2**53 - 1
"""The largest count an option takes (``limit``, ``max``): the largest integer a double
(Lua, JavaScript) holds exactly."""

_SURROGATE = re.compile("[\ud800-\udfff]").search


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate, which UTF-8 (and so every backend) cannot
    encode. Costs one ``isascii`` for ASCII text."""
    return not text.isascii() and _SURROGATE(text) is not None


def _label(name: str, owner: str | None) -> str:
    return f"{owner} option {name!r}" if owner else f"option {name!r}"


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def check_ms(
    name: str,
    value: object,
    *,
    owner: str | None = None,
    minimum: int = 1,
    maximum: int = MAX_MS,
) -> int:
    """Return ``value`` as whole milliseconds: an ``int``, or a ``float`` without a
    fraction, from ``minimum`` to ``maximum``. ``TypeError`` for ``bool``, other types
    and fractional or non-finite floats; ``ValueError`` when out of range."""
    if type(value) is int:
        ms = value
    elif (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    ):
        ms = int(value)
    else:
        raise TypeError(
            f"{_label(name, owner)} must be a whole number of milliseconds (an int), "
            f"got {_kind(value)}"
        )
    if not minimum <= ms <= maximum:
        raise ValueError(
            f"{_label(name, owner)} must be from {minimum} to {maximum} milliseconds, got {ms}"
        )
    return ms


def check_count(
    name: str,
    value: object,
    *,
    owner: str | None = None,
    minimum: int = 1,
    maximum: int = MAX_COUNT,
) -> int:
    """Return ``value``, an ``int`` (not ``bool``) from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{_label(name, owner)} must be an int, got {_kind(value)}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{_label(name, owner)} must be from {minimum} to {maximum}, got {value}")
    return int(value)


def check_seconds(name: str, value: object, *, owner: str | None = None) -> int:
    """Return ``value`` seconds (an ``int`` or ``float``, finite, > 0) as whole
    milliseconds, at least 1 and at most ``MAX_MS``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{_label(name, owner)} must be seconds as an int or float, got {_kind(value)}"
        )
    if not (value > 0 and math.isfinite(value) and value * 1000 <= MAX_MS):
        raise ValueError(
            f"{_label(name, owner)} must be a finite number of seconds > 0 and at most "
            f"{MAX_MS // 1000}, got {value!r}"
        )
    return max(1, round(value * 1000))


def check_text(name: str, value: object, *, owner: str | None = None) -> str:
    """Return ``value`` as an exact ``str`` (a subclass is copied to a plain ``str``, so
    none of its overridden methods run later); ``TypeError`` for other types,
    ``ValueError`` for a lone surrogate, which no backend can encode."""
    if not isinstance(value, str):
        raise TypeError(f"{_label(name, owner)} must be a str, got {_kind(value)}")
    text = value if value.__class__ is str else str.__str__(value)
    if has_lone_surrogate(text):
        raise ValueError(
            f"{_label(name, owner)} holds a lone surrogate, which UTF-8 cannot encode: {text!r:.80}"
        )
    return text
