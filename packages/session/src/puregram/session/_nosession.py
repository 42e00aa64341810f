"""``NoSession``: what ``context.session`` is when an update has no session key."""

from __future__ import annotations

from typing import Any, NoReturn

from ._errors import NoSessionError

__all__ = ["NoSession"]


class NoSession:
    """A stand-in whose every use raises ``NoSessionError`` saying why.

    Reading, writing, ``in``, ``len``, iteration and truth-testing all raise, so a handler
    that relies on a session fails loudly instead of silently losing data. ``repr`` works,
    so that logging the context does not fail.
    """

    __slots__ = ("_reason",)

    def __init__(self, reason: str) -> None:
        object.__setattr__(self, "_reason", reason)

    def _raise(self) -> NoReturn:
        raise NoSessionError(
            f"this update has no session: {self._reason}, so there is nowhere to keep one"
        )

    def __repr__(self) -> str:
        return f"<no session: {self._reason}>"

    def __getattr__(self, name: str) -> NoReturn:
        self._raise()

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        self._raise()

    def __delattr__(self, name: str) -> NoReturn:
        self._raise()

    def __getitem__(self, key: object) -> NoReturn:
        self._raise()

    def __setitem__(self, key: object, value: object) -> NoReturn:
        self._raise()

    def __delitem__(self, key: object) -> NoReturn:
        self._raise()

    def __contains__(self, key: object) -> NoReturn:
        self._raise()

    def __iter__(self) -> NoReturn:
        self._raise()

    def __len__(self) -> NoReturn:
        self._raise()

    def __bool__(self) -> NoReturn:
        self._raise()

    def __await__(self) -> NoReturn:  # ``await context.session`` with session(lazy=True)
        self._raise()
