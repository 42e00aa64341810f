"""Errors raised by puregram storage.

Exception tree::

    TypeError
     └── (a non-str key, or a value JSON cannot hold: plain TypeError naming the key)
    ValueError
     ├── (a value JSON cannot hold, such as NaN: plain ValueError naming the key)
     └── CorruptValueError   a stored value is not valid JSON
"""

from __future__ import annotations

__all__ = ["CorruptValueError", "describe_key"]


class CorruptValueError(ValueError):
    """A stored value could not be decoded. ``key`` names the entry; nothing was changed."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"stored value at key {describe_key(key)} is not valid JSON: {reason}")
        self.key = key


def describe_key(key: object) -> str:
    """``repr`` of a key for an error message, shortened so that a huge key cannot flood
    a log line: the first 60 and last 15 characters and the key's length."""
    text = repr(key)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-15:]} ({len(text) - 2} chars)"
