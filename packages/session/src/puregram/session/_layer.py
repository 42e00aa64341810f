"""``SessionLayer[S]``: the typing of a context that carries ``.session``."""

from __future__ import annotations

from typing import Protocol, TypeVar, cast

__all__ = ["SessionLayer"]

S = TypeVar("S")


class SessionLayer(Protocol[S]):
    """A context whose ``session`` attribute is of type ``S``.

    Mix it into your context class (``class MyContext(Update, SessionLayer[Data])``) or
    use it in a protocol of your own. ``S`` is what the handler sees: a ``Protocol`` with
    attributes for ``context.session.counter``, a ``TypedDict`` for
    ``context.session["counter"]``, or ``Session`` for an untyped session.
    """

    # The class-level default lets a class that mixes this in be instantiated (mypy
    # would call ``session`` abstract otherwise); until the middleware runs it is None.
    session: S = cast("S", None)
