"""puregram.aiogram: puregram storage, sessions and rate limits for aiogram 3 bots.

The map of the package:

- ``FsmStorage``: aiogram's FSM ``BaseStorage`` over any puregram store (``_fsm.py``),
  its keys from ``FsmKeyBuilder`` (``_keys.py``);
- ``EventIsolation``: aiogram's ``BaseEventIsolation`` over the store's leases
  (``_isolation.py``);
- ``SessionMiddleware``: ``puregram.session`` as an aiogram middleware (``_session.py``);
- ``RateLimitMiddleware``: ``puregram.rate_limit`` as an aiogram middleware, with
  per-handler budgets in flags (``_rate_limit.py``);
- ``UpdateContext``: what the two middlewares hand puregram's callbacks (``_context.py``);
- ``puregram.aiogram.testing``: a recording bot session and update builders, to drive a
  ``Dispatcher`` in tests without a network.
"""

from .__about__ import __version__
from ._context import UpdateContext
from ._fsm import FsmStorage
from ._isolation import EventIsolation
from ._keys import FsmKeyBuilder
from ._rate_limit import RateLimitMiddleware
from ._session import SessionMiddleware

__all__ = [
    "EventIsolation",
    "FsmKeyBuilder",
    "FsmStorage",
    "RateLimitMiddleware",
    "SessionMiddleware",
    "UpdateContext",
    "__version__",
]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
