"""puregram.ptb: python-telegram-bot persistence and rate limiting over puregram storage.

The map of the package:

- ``StoragePersistence`` (``_persistence.py``): PTB's ``BasePersistence`` over any
  iterable puregram store, write-through, with ``refresh=True`` for several processes;
- ``PersistEveryUpdate``: an ``Application`` class that persists after every update
  instead of every ``update_interval`` seconds;
- ``RateLimitHandler`` (``_rate_limit.py``): a ``TypeHandler`` over a
  ``puregram.rate_limit.RateLimiter`` that stops updates over budget with
  ``ApplicationHandlerStop``; ``by_user``, its default key.
"""

from .__about__ import __version__
from ._persistence import PersistEveryUpdate, StoragePersistence
from ._rate_limit import RateLimitHandler, by_user

__all__ = [
    "PersistEveryUpdate",
    "RateLimitHandler",
    "StoragePersistence",
    "__version__",
    "by_user",
]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
