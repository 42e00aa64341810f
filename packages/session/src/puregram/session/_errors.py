"""Errors raised by puregram.session.

Exception tree::

    RuntimeError
     └── NoSessionError   the update has no session key, so it has no session
    TypeError / ValueError
     └── (a value JSON cannot hold, a bad option, a bad ttl: plain errors naming the key
          or the option)
"""

from __future__ import annotations

__all__ = ["NoSessionError"]


class NoSessionError(RuntimeError):
    """This update has no session: its storage key is ``None``. The message says why."""
