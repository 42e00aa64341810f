"""Errors raised by puregram storage, and ``describe_key`` for their messages.

Every package of the ecosystem raises these (``puregram.session`` and
``puregram.rate_limit`` re-export them). Exception tree::

    Exception
     ├── StorageError                 base of the errors about stored data
     │    ├── CorruptValueError       stored data is unreadable: not JSON, nested too
     │    │                           deeply, a column of the wrong type (also a ValueError)
     │    ├── ForeignValueError       a live record of another shape or owner: count_hit
     │    │                           on a non-counter, a session record that is not an
     │    │                           object, a malformed rate-limit entry (also a ValueError)
     │    └── LeaseLostError          a write under a lease that another holder now has
     ├── TypeError                    a non-str key; a value JSON cannot hold (a set, a
     │                                dict with non-str keys); a bad option's type
     └── ValueError                   a value JSON cannot hold (NaN, nesting too deep, a
                                      lone surrogate); a bad option's value; a key with a
                                      lone surrogate

Each ``StorageError`` carries ``.key``, the key it is about (``None`` when it is about no
single key). Bad input (``TypeError``/``ValueError``) is raised before anything is
written; a ``StorageError`` leaves the stored record as it was. Backend failures
(connection refused, database locked) are the backend's own exceptions.
"""

from __future__ import annotations

__all__ = [
    "CorruptValueError",
    "ForeignValueError",
    "LeaseLostError",
    "StorageError",
    "describe_key",
]


def describe_key(key: object) -> str:
    """``repr`` of a key for an error message, shortened so that a huge key cannot flood
    a log line: the first 60 and last 15 characters and the key's length."""
    text = repr(key)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-15:]} ({len(text) - 2} chars)"


class StorageError(Exception):
    """Base of the errors about stored data; ``.key`` names the entry (or is ``None``)."""

    key: str | None

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class CorruptValueError(StorageError, ValueError):
    """A stored value could not be read: not valid JSON, nested too deeply, or a column
    of the wrong type. ``key`` names the entry; nothing was changed."""

    key: str

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(
            f"stored value at key {describe_key(key)} is unreadable: {reason}", key=key
        )


class ForeignValueError(StorageError, ValueError):
    """A live record at ``key`` is not of the shape this operation owns (another
    plugin's record, or one written by hand). It was left as it was."""

    key: str

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(
            f"the record at key {describe_key(key)} {reason}; it was left as it was", key=key
        )


class LeaseLostError(StorageError):
    """A write was refused because the lease it ran under had ended and another holder
    took the key: the record holds the other holder's data, nothing was overwritten."""

    key: str

    def __init__(self, key: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"the lease on key {describe_key(key)} was lost before the write{detail}; "
            "nothing was written",
            key=key,
        )
