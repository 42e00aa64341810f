"""``SessionLayer[S]``: the typing of a context that carries ``.session``."""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["SessionLayer"]

S = TypeVar("S")


class SessionLayer(Protocol[S]):
    """A context whose ``session`` attribute is of type ``S``.

    Combine it with your context class (``class MyContext(Update, SessionLayer[Data])``)
    or use it alone as a protocol. ``S`` is what the handler sees: a ``Protocol`` with
    attributes for ``context.session.counter``, a ``TypedDict`` for
    ``context.session["counter"]``, or ``Session`` for an untyped session.
    """

    session: S
