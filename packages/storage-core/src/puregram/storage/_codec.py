"""Key checks and the JSON codec shared by every store that serializes.

Adapter authors use these through ``puregram.storage`` so that their stores reject bad
input with the same errors as the bundled ones.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from ._errors import CorruptValueError, describe_key
from ._options import has_lone_surrogate

__all__ = ["check_key", "decode_value", "encode_value", "reject_key"]

# One encoder and one decoder, built once: ``json.dumps``/``json.loads`` with non-default
# options build a new one per call. The decoder refuses ``NaN`` and ``Infinity``, which
# Python's json accepts but JSON (and so JSON.parse in a Node.js bot) does not.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode

# The key walk steps over leaves by their exact type; anything else (a container, or a
# subclass the encoder took as one) is looked inside.
_LEAVES = frozenset((str, int, float, bool, type(None)))

MAX_DEPTH = 512
"""The deepest nesting of lists and dicts a value may have. Fixed, so that whether a value
is accepted does not depend on the recursion limit of the process that writes it, and
below what every reader handles (Redis's cjson stops at 1000)."""


def reject_key(key: object) -> NoReturn:
    """Raise the error for a key that is not usable: ``TypeError`` for a non-``str``,
    ``ValueError`` for a ``str`` holding a lone surrogate."""
    if isinstance(key, str):
        raise ValueError(
            f"storage key {describe_key(key)} holds a lone surrogate, which UTF-8 "
            "(and so no backend) can encode"
        )
    raise TypeError(f"storage keys must be str, got {type(key).__name__}: {describe_key(key)}")


def check_key(key: object) -> str:
    """Return ``key`` as an exact ``str`` ready to send to a backend.

    A ``str`` subclass (an ``enum.StrEnum`` member) is copied to a plain ``str``, so
    that none of its overridden methods (``__add__``, ``__radd__``, ``__str__``) run when
    an adapter builds a name from it. Raises ``TypeError`` naming a non-``str`` key and
    ``ValueError`` for a lone surrogate, before anything is sent.
    """
    if key.__class__ is not str:
        if not isinstance(key, str):
            reject_key(key)
        key = str.__str__(key)
    if has_lone_surrogate(key):
        reject_key(key)
    return key


def encode_value(key: str, value: object) -> str:
    """Serialize ``value`` as compact JSON text.

    Raises ``TypeError`` (a type JSON cannot hold, such as ``set``, or a dict key that
    is not a ``str``, named by its path) or ``ValueError`` (NaN, infinity, a circular
    reference, nesting deeper than ``MAX_DEPTH``, a lone surrogate, dict keys that collide
    once written as JSON), naming ``key``. Nothing is written when it raises.
    """
    try:
        text = _encode(value)
        _check_dict_keys(value, 1)
    except (RecursionError, _TooDeep):
        raise ValueError(
            f"cannot store key {describe_key(key)} as JSON: the value is nested more than "
            f"{MAX_DEPTH} levels deep"
        ) from None
    except _BadKey as exc:
        raise exc.error(key) from None
    except (TypeError, ValueError) as exc:
        reason = str(exc)
        if isinstance(exc, ValueError) and reason.startswith("Out of range float"):
            # Older Pythons do not say which float: find it, on the error path only.
            reason = f"float {_non_finite(value, set())!r} is not JSON compliant"
        raise type(exc)(f"cannot store key {describe_key(key)} as JSON: {reason}") from exc
    if has_lone_surrogate(text):
        raise ValueError(
            f"cannot store key {describe_key(key)} as JSON: a string in the value holds a "
            "lone surrogate, which UTF-8 cannot encode"
        )
    return text


class _TooDeep(Exception):
    """The value nests deeper than ``MAX_DEPTH``."""


class _BadKey(Exception):
    """A dict key JSON would coerce or merge; carries the path to it."""

    def __init__(self, path: list[object], dict_key: object, collides: bool) -> None:
        self.path = path
        self.dict_key = dict_key
        self.collides = collides

    def error(self, key: str) -> TypeError | ValueError:
        where = "".join(f"[{step!r}]" for step in reversed(self.path)) or "the value"
        prefix = f"cannot store key {describe_key(key)} as JSON:"
        if self.collides:
            return ValueError(
                f"{prefix} at {where}, dict key {self.dict_key!r} collides with another key "
                "once written as JSON text"
            )
        return TypeError(
            f"{prefix} at {where}, dict key {self.dict_key!r} is a "
            f"{type(self.dict_key).__name__}; JSON object keys are str (json would turn it "
            "into text and it would read back as another key)"
        )


def _check_dict_keys(value: object, depth: int) -> None:
    """Raise ``_BadKey`` for a dict key that is not a ``str``, or ``str`` subclass keys
    that collide with others once written, and ``_TooDeep`` past ``MAX_DEPTH``.

    Runs after the encoder succeeded, so the value is a tree of JSON types: leaves are
    stepped over by their exact type, everything else is looked inside. (Tried: doing the
    per-item work with ``map``/``compress`` in C; the iterator set-up per container made
    it 1.5-3x slower on session-shaped values.)
    """
    if depth > MAX_DEPTH:
        raise _TooDeep
    leaves = _LEAVES
    if isinstance(value, dict):
        plain = True
        for dict_key, item in value.items():
            if dict_key.__class__ is not str:
                plain = False
            if item.__class__ not in leaves:
                try:
                    _check_dict_keys(item, depth + 1)
                except _BadKey as exc:
                    exc.path.append(dict_key)
                    raise
        if not plain:
            _refuse_keys(value)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if item.__class__ not in leaves:
                try:
                    _check_dict_keys(item, depth + 1)
                except _BadKey as exc:
                    exc.path.append(index)
                    raise


def _refuse_keys(value: dict[Any, Any]) -> None:
    """The slow path of a dict with a key that is not an exact ``str``."""
    for dict_key in value:
        if not isinstance(dict_key, str):
            raise _BadKey([], dict_key, collides=False)
    if len({str.__str__(k) for k in value}) != len(value):
        first = next(k for k in value if k.__class__ is not str)
        raise _BadKey([], first, collides=True)


def _non_finite(value: object, seen: set[int]) -> float | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else value
    if id(value) in seen:
        return None
    if isinstance(value, dict):
        seen.add(id(value))
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        seen.add(id(value))
        for item in value:
            found = _non_finite(item, seen)
            if found is not None:
                return found
    return None


def decode_value(key: str, raw: str | bytes) -> Any:
    """Parse JSON text read from a store; raise ``CorruptValueError`` naming ``key`` when
    it is not JSON, nested too deeply to read, or neither text nor bytes.

    Bytes are decoded as ``json.loads`` does (UTF-8, -16 or -32).
    """
    try:
        if not isinstance(raw, str):
            if not isinstance(raw, (bytes, bytearray)):
                raise CorruptValueError(
                    key, f"expected JSON text, the store holds a {type(raw).__name__}"
                )
            raw = raw.decode(json.detect_encoding(raw), "surrogatepass")
        return _decode(raw)
    except RecursionError:
        raise CorruptValueError(key, "the JSON is nested too deeply to read") from None
    except CorruptValueError:
        raise
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptValueError(key, f"not valid JSON: {exc}") from exc
