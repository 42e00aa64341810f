"""puregram.rate_limit: a fixed-window rate limiter over any puregram storage.

The map of the package:

- ``rate_limit(...)`` makes a ``RateLimiter`` (``_limiter.py``): imperative ``check``,
  ``hit``, ``reset`` and ``resolve_key``, and the ``middleware`` and ``filter`` forms;
- the window arithmetic (``_window.py``) is private; the get + set path serialises hits
  per key with ``puregram.storage.KeyLocks``;
- ``StorageError``, ``CorruptValueError`` and ``ForeignValueError``, the core's errors
  about stored data, re-exported for ``except`` clauses (see the README's error table).
"""

from puregram.storage import CorruptValueError, ForeignValueError, StorageError

from .__about__ import __version__
from ._limiter import RateLimiter, rate_limit

__all__ = [
    "CorruptValueError",
    "ForeignValueError",
    "RateLimiter",
    "StorageError",
    "__version__",
    "rate_limit",
]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
