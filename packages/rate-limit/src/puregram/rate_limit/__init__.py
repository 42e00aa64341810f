"""puregram.rate_limit: a fixed-window rate limiter over any puregram storage.

The map of the package:

- ``rate_limit(...)`` makes a ``RateLimiter`` (``_limiter.py``): imperative ``check``,
  ``hit``, ``reset`` and ``resolve_key``, and the ``middleware`` and ``filter`` forms;
- the window arithmetic (``_window.py``) and the per-key locks of the get + set path
  (``_locks.py``) are private.
"""

from .__about__ import __version__
from ._limiter import RateLimiter, rate_limit

__all__ = ["RateLimiter", "__version__", "rate_limit"]
