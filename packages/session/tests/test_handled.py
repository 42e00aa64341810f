"""``session(handled=...)``: a framework's "handled, stop here" exception saves the session.

python-telegram-bot's ``ApplicationHandlerStop`` and aiogram's ``SkipHandler`` are raised by
handlers that did their work; the change they made must be kept and the exception must still
reach the framework. Checked on both paths: the store's lease and the in-process lock.
"""

from __future__ import annotations

from typing import Any

import pytest

from puregram.session import session
from puregram.storage import MemoryStorage

pytestmark = pytest.mark.anyio


class Stop(Exception):
    """Stands in for a framework's control-flow exception (ApplicationHandlerStop)."""


class Update:
    def __init__(self, sender_id: object = 1) -> None:
        self.sender_id = sender_id
        self.session: Any = None


ISOLATIONS = ["store", "process"]


async def update(mw: Any, raises: BaseException | None, counter: int = 1) -> None:
    context = Update()

    async def next_() -> None:
        context.session.counter = counter
        if raises is not None:
            raise raises

    await mw(context, next_)


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_a_handled_exception_saves_the_change_and_propagates(isolation: Any) -> None:
    store = MemoryStorage[Any]()
    mw = session(storage=store, isolation=isolation, handled=(Stop,))
    stop = Stop("handled")
    with pytest.raises(Stop) as caught:
        await update(mw, stop)
    assert caught.value is stop
    assert await store.get("1") == {"counter": 1}


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_a_subclass_of_a_handled_type_is_handled_too(isolation: Any) -> None:
    class Stricter(Stop):
        pass

    store = MemoryStorage[Any]()
    mw = session(storage=store, isolation=isolation, handled=[Stop])
    with pytest.raises(Stricter):
        await update(mw, Stricter())
    assert await store.get("1") == {"counter": 1}


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_any_other_exception_still_saves_nothing(isolation: Any) -> None:
    store = MemoryStorage[Any]()
    mw = session(storage=store, isolation=isolation, handled=(Stop,))
    await update(mw, None, counter=1)
    with pytest.raises(LookupError):
        await update(mw, LookupError(), counter=2)
    assert await store.get("1") == {"counter": 1}


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_without_handled_a_control_flow_exception_saves_nothing(isolation: Any) -> None:
    store = MemoryStorage[Any]()
    with pytest.raises(Stop):
        await update(session(storage=store, isolation=isolation), Stop())
    assert await store.get("1") is None


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_the_key_is_free_after_a_handled_exception(isolation: Any) -> None:
    store = MemoryStorage[Any]()
    mw = session(storage=store, isolation=isolation, handled=(Stop,))
    with pytest.raises(Stop):
        await update(mw, Stop(), counter=1)
    await update(mw, None, counter=2)  # would wait forever on a lock left held
    assert await store.get("1") == {"counter": 2}


@pytest.mark.parametrize(
    "handled",
    [Stop, "Stop", [Stop, "x"], [ValueError()], 1, [int]],
    ids=["a-class-not-a-tuple", "str", "str-inside", "instance", "int", "not-an-exception"],
)
def test_handled_must_be_exception_classes(handled: Any) -> None:
    with pytest.raises(TypeError, match=r"session\(handled=\.\.\.\)"):
        session(handled=handled)
