"""Storage keys: the ``{user, chat, thread, key}`` descriptor and the ready key functions.

A ``get_storage_key`` may return a mapping with the parts ``user``, ``chat``, ``thread``
and ``key``; it becomes ``user:<u>:chat:<c>:thread:<t>:key:<k>``, in that order, with only
the parts present. A part is present when its value is an ``int`` or a non-empty ``str``;
``None`` (or ``""``) leaves it out. A descriptor with no part present, like a key of
``""``, means "this update has no session".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PARTS", "by_chat", "by_sender", "by_user_in_chat", "no_key_reason", "normalise"]

PARTS = ("user", "chat", "thread", "key")
_PART_SET = frozenset(PARTS)


def _part(name: str, value: object, where: str) -> str:
    """The text of one present part, ``""`` for an absent one."""
    if value is None:
        return ""
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if isinstance(value, str):  # a str subclass (an enum member): the plain str it holds
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__repr__(value)
    raise TypeError(
        f"{where}: part {name!r} must be an int, a str or None, got {type(value).__name__}: "
        f"{value!r:.60}"
    )


def normalise(descriptor: Mapping[str, Any], where: str = "get_storage_key") -> str:
    """The storage key of a ``{user, chat, thread, key}`` descriptor; ``""`` for none.

    A name that is not one of the four parts is a ``ValueError``, a part that is not an
    ``int``, a ``str`` or ``None`` a ``TypeError`` (``bool`` and ``float`` included: an id
    is a whole number), both naming ``where`` and the part.
    """
    for name in descriptor:
        if name not in _PART_SET:
            raise ValueError(
                f"{where}: unknown key part {name!r:.60}; the parts are user, chat, thread, key"
            )
    pieces = []
    for name in PARTS:
        text = _part(name, descriptor.get(name), where)
        if text:
            pieces.append(f"{name}:{text}")
    return ":".join(pieces)


def _id(context: Any, name: str) -> object:
    return getattr(context, name, None)


def by_sender(context: Any) -> str | None:
    """The default key: ``str(context.sender_id)``; ``None`` when it is missing or ``None``.

    The same key as the TypeScript default, ``context.senderId.toString()``.
    """
    sender = getattr(context, "sender_id", None)
    return None if sender is None else str(sender)


def by_chat(context: Any) -> str | None:
    """One session per chat: ``chat:<chat_id>``, and ``chat:<chat_id>:thread:<thread_id>``
    in a forum topic (when ``context.thread_id`` is not ``None``), so each topic has its
    own. ``None`` (no session) when ``context.chat_id`` is missing or ``None``."""
    chat = _id(context, "chat_id")
    if chat is None:
        return None
    return normalise({"chat": chat, "thread": _id(context, "thread_id")}, "by_chat")


def by_user_in_chat(context: Any) -> str | None:
    """One session per user per chat: ``user:<sender_id>:chat:<chat_id>``, the default key
    of ``@puregram/session`` v3 (``thread_id`` is not part of it). ``None`` (no session)
    when ``context.sender_id`` or ``context.chat_id`` is missing or ``None``."""
    user, chat = _id(context, "sender_id"), _id(context, "chat_id")
    if user is None or chat is None:
        return None
    return normalise({"user": user, "chat": chat}, "by_user_in_chat")


_NEEDS = {
    by_sender: ("sender_id",),
    by_chat: ("chat_id",),
    by_user_in_chat: ("sender_id", "chat_id"),
}


def no_key_reason(get_key: object, context: Any) -> str:
    """Why ``get_key`` found no key for ``context``, for ``NoSessionError``."""
    for name in _NEEDS.get(get_key, ()):  # type: ignore[call-overload]
        if not hasattr(context, name):
            return f"the context has no {name}"
        if getattr(context, name) is None:
            return f"context.{name} is None"
    return "get_storage_key returned None"
