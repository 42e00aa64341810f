"""puregram.session: per-user sessions for puregram bots, over any puregram storage.

The map of the package:

- ``session()``: the middleware that sets ``context.session`` and saves it after the
  handler, ``SessionMiddleware`` (what it returns), ``LazySession`` (``context.session``
  with ``lazy=True``) and ``Sessions`` (``middleware.sessions``: access outside an
  update), in ``_middleware.py``;
- ``by_sender``, ``by_chat``, ``by_user_in_chat``: ready ``get_storage_key`` functions, and
  the ``{user, chat, thread, key}`` key descriptor (``_keys.py``);
- ``Session``: the mapping the handler sees, with attribute access (``_session.py``);
- ``ttl()``: mark a session key to expire (``_ttl.py``);
- ``SessionLayer[S]``: typing for a context that carries a session (``_layer.py``);
- ``NoSessionError``: raised by every use of the session of an update with no key;
  ``StorageError``, ``CorruptValueError``, ``ForeignValueError`` and ``LeaseLostError``,
  the core's errors about stored data, re-exported (``_errors.py`` draws the tree).
"""

from .__about__ import __version__
from ._errors import (
    CorruptValueError,
    ForeignValueError,
    LeaseLostError,
    NoSessionError,
    StorageError,
)
from ._keys import by_chat, by_sender, by_user_in_chat
from ._layer import SessionLayer
from ._middleware import LazySession, SessionMiddleware, Sessions, session
from ._session import Session
from ._ttl import ttl

__all__ = [
    "CorruptValueError",
    "ForeignValueError",
    "LazySession",
    "LeaseLostError",
    "NoSessionError",
    "Session",
    "SessionLayer",
    "SessionMiddleware",
    "Sessions",
    "StorageError",
    "__version__",
    "by_chat",
    "by_sender",
    "by_user_in_chat",
    "session",
    "ttl",
]

# Tracebacks and reprs name the public module, not the private one a name lives in.
for _value in list(globals().values()):
    if getattr(_value, "__module__", "").startswith(__name__ + "._"):
        _value.__module__ = __name__
del _value
