"""``FsmKeyBuilder``: aiogram's ``DefaultKeyBuilder`` keys, and a place for a destiny."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from aiogram.fsm.storage.base import DEFAULT_DESTINY, DefaultKeyBuilder, StorageKey

__all__ = ["FsmKeyBuilder"]


class FsmKeyBuilder(DefaultKeyBuilder):
    """The default key builder of ``FsmStorage`` and ``EventIsolation``.

    For the default destiny it builds exactly what aiogram's ``DefaultKeyBuilder`` builds
    (``fsm:<chat>:<thread?>:<user>:<part>``), so a bot moving from aiogram's
    ``RedisStorage`` finds its keys where they were. Another destiny (aiogram_dialog
    uses ``aiogd:stack`` and ``aiogd:context``) goes before the part
    (``fsm:<chat>:<user>:<destiny>:<part>``), where ``DefaultKeyBuilder`` would raise.
    A destiny that is a whole number is a ``ValueError``: it would read as a user id.
    ``with_destiny=True`` puts the destiny into every key, as aiogram's does.
    """

    def build(
        self,
        key: StorageKey,
        part: Literal["data", "state", "lock"] | None = None,
    ) -> str:
        destiny = key.destiny
        if destiny == DEFAULT_DESTINY and not (self.with_bot_id or self.with_destiny):
            # The common case, built inline: the key is built on every FSM call.
            sep = self.separator
            head = f"{self.prefix}{sep}"
            if self.with_business_connection_id and key.business_connection_id:
                head += f"{key.business_connection_id}{sep}"
            if key.thread_id:
                head += f"{key.chat_id}{sep}{key.thread_id}{sep}{key.user_id}"
            else:
                head += f"{key.chat_id}{sep}{key.user_id}"
            return f"{head}{sep}{part}" if part else head
        if destiny == DEFAULT_DESTINY or self.with_destiny:
            return super().build(key, part)
        if destiny.lstrip("-").isdigit():
            raise ValueError(
                f"FsmKeyBuilder: a destiny must not be a whole number (it would read as a "
                f"user id in the key), got {destiny!r}"
            )
        built = super().build(replace(key, destiny=DEFAULT_DESTINY)) + self.separator + destiny
        return built + self.separator + part if part else built
