"""Key checks and the JSON codec shared by every store that serializes.

Adapter authors use these through ``puregram.storage`` so that their stores reject bad
input with the same errors as the bundled ones.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from ._errors import CorruptValueError, describe_key

__all__ = ["check_key", "decode_value", "encode_value", "reject_key"]

# One encoder and one decoder, built once: ``json.dumps``/``json.loads`` with non-default
# options build a new one per call. The decoder refuses ``NaN`` and ``Infinity``, which
# Python's json accepts but JSON (and so JSON.parse in a Node.js bot) does not.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


def reject_key(key: object) -> NoReturn:
    """Raise the ``TypeError`` for a key that is not a ``str``."""
    raise TypeError(f"storage keys must be str, got {type(key).__name__}: {describe_key(key)}")


def check_key(key: object) -> str:
    """Return ``key`` when it is a ``str``; raise ``TypeError`` naming it otherwise."""
    if isinstance(key, str):
        return key
    reject_key(key)


def encode_value(key: str, value: object) -> str:
    """Serialize ``value`` as compact JSON text.

    Raises ``TypeError`` (a type JSON cannot hold, such as ``set``) or ``ValueError``
    (NaN, infinity, a circular reference), naming ``key`` and the offending type.
    """
    try:
        return _encode(value)
    except (TypeError, ValueError) as exc:
        reason = str(exc)
        if isinstance(exc, ValueError) and reason.startswith("Out of range float"):
            # Older Pythons do not say which float: find it, on the error path only.
            reason = f"float {_non_finite(value, set())!r} is not JSON compliant"
        raise type(exc)(f"cannot store key {describe_key(key)} as JSON: {reason}") from exc


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
    """Parse JSON text read from a store; raise ``CorruptValueError`` naming ``key``.

    Bytes are decoded as ``json.loads`` does (UTF-8, -16 or -32).
    """
    try:
        if not isinstance(raw, str):
            raw = raw.decode(json.detect_encoding(raw), "surrogatepass")
        return _decode(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptValueError(key, str(exc)) from exc
