"""aiogram_dialog runs on ``FsmStorage`` unchanged: its stack and contexts are FSM data
under destinies of its own, which ``FsmKeyBuilder`` keys where aiogram's default
builder raises. Driven through a real Dispatcher, across a restart, over SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

aiogram_dialog = pytest.importorskip("aiogram_dialog", reason="aiogram_dialog does not install")

from aiogram import Dispatcher  # noqa: E402
from aiogram.filters import Command  # noqa: E402
from aiogram.fsm.state import State, StatesGroup  # noqa: E402
from aiogram.methods import SendMessage  # noqa: E402
from aiogram.types import Message  # noqa: E402
from aiogram_dialog import Dialog, DialogManager, StartMode, Window, setup_dialogs  # noqa: E402
from aiogram_dialog.widgets.kbd import Button  # noqa: E402
from aiogram_dialog.widgets.text import Const  # noqa: E402

from puregram.aiogram import FsmStorage  # noqa: E402
from puregram.aiogram.testing import (  # noqa: E402
    RecordingSession,
    callback_update,
    make_bot,
    message_update,
)

pytestmark = pytest.mark.anyio


class Wizard(StatesGroup):
    first = State()
    second = State()


def make_dispatcher(store: Any) -> Dispatcher:
    async def go_next(callback: Any, button: Any, manager: DialogManager) -> None:
        await manager.next()

    dialog = Dialog(
        Window(
            Const("first window"),
            Button(Const("Next"), id="next", on_click=go_next),
            state=Wizard.first,
        ),
        Window(Const("second window"), state=Wizard.second),
    )
    dp = Dispatcher(storage=FsmStorage(store, close_storage=False))

    @dp.message(Command("start"))
    async def start(message: Message, dialog_manager: DialogManager) -> None:
        await dialog_manager.start(Wizard.first, mode=StartMode.RESET_STACK)

    dp.include_router(dialog)
    setup_dialogs(dp)
    return dp


async def test_a_dialog_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    from puregram.storage_sqlite import SqliteStorage

    bot = make_bot()
    session = bot.session
    assert isinstance(session, RecordingSession)
    async with SqliteStorage.open(tmp_path / "bot.db") as store:
        await make_dispatcher(store).feed_update(bot, message_update(user_id=7, text="/start"))
        sent = [m for m in session.requests if isinstance(m, SendMessage)]
        assert [m.text for m in sent] == ["first window"]
        markup: Any = sent[0].reply_markup
        button = markup.inline_keyboard[0][0].callback_data
        keys = {key async for key in store.keys()}
        assert "fsm:7:7:aiogd:stack::data" in keys, keys
        assert any(key.startswith("fsm:7:7:aiogd:context:") for key in keys), keys

    async with SqliteStorage.open(tmp_path / "bot.db") as store:  # a restart
        await make_dispatcher(store).feed_update(
            bot, callback_update(user_id=7, data=button, message_id=1_000)
        )
    assert session.texts()[-1] == "second window"
