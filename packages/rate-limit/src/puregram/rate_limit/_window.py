"""Fixed-window arithmetic: option checks, the stored entry, ``retry_after``.

Pure functions with no I/O, so the limiter's two counting paths (a store's atomic
``count_hit``, or ``get`` + ``set``) share one definition of a window.
"""

from __future__ import annotations

import time
from typing import Any

from puregram.storage import ForeignValueError, check_count, check_seconds

__all__ = [
    "check_bucket",
    "check_options",
    "entry",
    "foreign",
    "new_hits",
    "retry_after",
    "unix_ms",
]


def unix_ms() -> int:
    """The default clock: unix time in whole milliseconds."""
    return time.time_ns() // 1_000_000


def check_options(limit: object, window: object) -> int:
    """Validate ``limit`` and ``window`` with the core checker; return the window in
    whole milliseconds.

    ``limit`` is an ``int`` from 1 to ``MAX_COUNT``; ``window`` is seconds as an ``int``
    or ``float``, finite, ``> 0`` and at most ``MAX_MS / 1000``, rounded to whole
    milliseconds (at least 1). A wrong type is a ``TypeError``, a wrong value a
    ``ValueError``; both name the option.
    """
    check_count("limit", limit, owner="rate limit")
    return check_seconds("window", window, owner="rate limit")


def check_bucket(bucket: object) -> None:
    """A bucket is a ``str`` or ``None``; anything else is a ``TypeError``."""
    if bucket is not None and not isinstance(bucket, str):
        raise TypeError(
            f"rate limit option 'bucket' must be a str or None, got {type(bucket).__name__}"
        )


def retry_after(reset_at: int, now: int) -> int:
    """Whole seconds from ``now`` until ``reset_at`` (both unix ms), rounded up, at least 1."""
    return max(1, -((now - reset_at) // 1000))


def new_hits(key: str, stored: Any, now: int, window_ms: int) -> tuple[int, int]:
    """The window after one more hit on ``stored`` (the entry read at ``key``, or ``None``).

    Returns ``(hits, reset_at)``: a missing or ended window (``resetAt <= now``) starts
    anew at ``(1, now + window_ms)``. Raises ``ForeignValueError`` naming ``key`` when
    ``stored`` is not a rate-limit entry (someone else's data at that key), so it is never
    overwritten. ``None`` is read as missing: the caller tells a stored JSON ``null``
    apart (with ``has``) before calling this.
    """
    if stored is None:
        return 1, now + window_ms
    # ``type(...) is`` rather than isinstance: this runs on every hit, and bool (an int
    # subclass) must not pass as a count.
    if type(stored) is dict:
        hits = stored.get("hits")
        reset_at = stored.get("resetAt")
        if type(hits) is int and (type(reset_at) is int or type(reset_at) is float):
            if reset_at <= now:
                return 1, now + window_ms
            return hits + 1, int(reset_at)
    raise foreign(key, f"{type(stored).__name__} {stored!r:.80}")


def foreign(key: str, held: str) -> ForeignValueError:
    """The error for a record at ``key`` that is not a rate-limit entry."""
    return ForeignValueError(
        key, f'is not an entry {{"hits": int, "resetAt": unix_ms}} (it holds {held})'
    )


def entry(hits: int, reset_at: int) -> dict[str, int]:
    """The stored record, the same as the TypeScript package's."""
    return {"hits": hits, "resetAt": reset_at}
