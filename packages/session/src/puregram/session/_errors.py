"""Errors raised by puregram.session.

``NoSessionError`` is this package's own; the errors about stored data are the core's
(``puregram.storage``), re-exported here so that a handler catches them without another
import. Exception tree::

    RuntimeError
     └── NoSessionError           the update has no session key, so it has no session
    StorageError                  base of the errors about stored data (``.key``)
     ├── CorruptValueError        the stored session cannot be read: not JSON, nested
     │                            too deeply (also a ValueError)
     ├── ForeignValueError        the record at the key is not a session: a JSON null,
     │                            an array, a string... (also a ValueError)
     └── LeaseLostError           the handler outlived ``lease_ms``, another update took
                                  the key, and this update's save was refused
    TypeError / ValueError        a value JSON cannot hold (naming the session key and
                                  the storage key), a bad option, a bad ttl, a key with
                                  a lone surrogate

A ``StorageError`` leaves the stored record as it was, and the handler's changes are
not saved.
"""

from __future__ import annotations

from puregram.storage import CorruptValueError, ForeignValueError, LeaseLostError, StorageError

__all__ = [
    "CorruptValueError",
    "ForeignValueError",
    "LeaseLostError",
    "NoSessionError",
    "StorageError",
]


class NoSessionError(RuntimeError):
    """This update has no session: its storage key is ``None``. The message says why."""
