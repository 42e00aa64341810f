"""puregram.session: per-user sessions for puregram bots, over any puregram storage.

The map of the package:

- ``session()``: the middleware that sets ``context.session`` and saves it after the
  handler (``_middleware.py``);
- ``Session``: the mapping the handler sees, with attribute access (``_session.py``);
- ``ttl()``: mark a session key to expire (``_ttl.py``);
- ``SessionLayer[S]``: typing for a context that carries a session (``_layer.py``);
- ``NoSessionError``: raised by every use of the session of an update with no key.
"""

from .__about__ import __version__
from ._errors import NoSessionError
from ._layer import SessionLayer
from ._middleware import session
from ._session import Session
from ._ttl import ttl

__all__ = ["NoSessionError", "Session", "SessionLayer", "__version__", "session", "ttl"]
