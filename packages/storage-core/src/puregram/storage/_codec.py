"""Key checks and the JSON codec shared by every store that serializes.

Adapter authors use these through ``puregram.storage`` so that their stores reject bad
input with the same errors as the bundled ones.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from ._errors import CorruptValueError, describe_key

__all__ = ["check_key", "decode_value", "encode_value", "reject_key"]

# One encoder, built once: ``json.dumps`` with non-default options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_decode = json.loads


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
        raise type(exc)(f"cannot store key {describe_key(key)} as JSON: {exc}") from exc


def decode_value(key: str, raw: str | bytes) -> Any:
    """Parse JSON text read from a store; raise ``CorruptValueError`` naming ``key``."""
    try:
        return _decode(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptValueError(key, str(exc)) from exc
