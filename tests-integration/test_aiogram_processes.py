"""aiogram bots as real processes on one SQLite file, one Redis server or one Redis
Cluster: an FSM flow survives a restart (a new process reads the state the first one
left), and two processes serving one user at once, with ``EventIsolation``, lose no
FSM write.

This module is also the bot: ``python test_aiogram_processes.py --sqlite PATH CMD ...``
(run with ``sys.executable``), a Dispatcher fed by ``feed_update`` on a recording
session, so no network is involved.

    flow USER TEXT...   feed the texts in order; print the bot's replies as one JSON line.
    race USER N TAG     print "ready", wait for "go", feed N updates for USER at once;
                        each handler reads the data, yields, appends "TAG-k". Print "done".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__)


# -- the bot (child side) -----------------------------------------------------------------


@asynccontextmanager
async def open_storage(args: argparse.Namespace) -> AsyncIterator[Any]:
    if args.sqlite:
        from puregram.storage_sqlite import SqliteStorage

        async with SqliteStorage.open(args.sqlite) as store:
            yield store
        return
    from redis.asyncio import Redis, RedisCluster

    from puregram.storage_redis import RedisStorage

    client: Any = (
        Redis.from_url(args.redis) if args.redis else RedisCluster.from_url(args.redis_cluster)
    )
    try:
        yield RedisStorage(client=client, prefix=args.prefix)
    finally:
        await client.aclose()


def build_dispatcher(store: Any) -> Any:
    from aiogram import Dispatcher
    from aiogram.filters import Command
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.state import State, StatesGroup
    from aiogram.types import Message

    from puregram.aiogram import EventIsolation, FsmStorage

    class Form(StatesGroup):
        name = State()
        age = State()

    fsm = FsmStorage(store, close_storage=False)
    dp = Dispatcher(storage=fsm, events_isolation=EventIsolation(fsm))

    @dp.message(Command("start"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await message.answer("name?")

    @dp.message(Form.name)
    async def name(message: Message, state: FSMContext) -> None:
        await state.update_data(name=message.text)
        await state.set_state(Form.age)
        await message.answer("age?")

    @dp.message(Form.age)
    async def age(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await message.answer(f"{data['name']} is {message.text}")

    @dp.message(Command("add"))
    async def add(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await asyncio.sleep(0.002)  # a reply in flight: the other process runs meanwhile
        seen = [*data.get("seen", []), str(message.text).split()[1]]
        await state.set_data({"seen": seen})
        await state.set_state(f"Count:{len(seen)}")

    return dp


async def child(args: argparse.Namespace) -> None:
    from puregram.aiogram.testing import RecordingSession, make_bot, message_update

    async with open_storage(args) as store:
        dp = build_dispatcher(store)
        bot = make_bot()
        session = bot.session
        assert isinstance(session, RecordingSession)
        user = int(args.words[0])
        if args.command == "flow":
            for text in args.words[1:]:
                await dp.feed_update(bot, message_update(user_id=user, text=text))
            print(json.dumps(session.texts()), flush=True)
            return
        count, tag = int(args.words[1]), args.words[2]
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await asyncio.gather(
            *(
                dp.feed_update(bot, message_update(user_id=user, text=f"/add {tag}-{k}"))
                for k in range(count)
            )
        )
        print("done", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite")
    where.add_argument("--redis")
    where.add_argument("--redis-cluster")
    parser.add_argument("--prefix", default="bot:")
    parser.add_argument("command", choices=["flow", "race"])
    parser.add_argument("words", nargs="*")
    asyncio.run(child(parser.parse_args(argv)))


# -- the tests (parent side) --------------------------------------------------------------


class Backend:
    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp_path / "bot.db"
            self.args = ["--sqlite", str(self.path)]
            return
        self.prefix = f"aiogram:{uuid.uuid4().hex[:12]}:"
        if kind == "redis":
            self.url = str(request.getfixturevalue("redis_url"))
            self.args = ["--redis", self.url, "--prefix", self.prefix]
        else:
            self.url = str(request.getfixturevalue("redis_cluster_url"))
            self.args = ["--redis-cluster", self.url, "--prefix", self.prefix]

    def get(self, key: str) -> Any:
        """The record at ``key`` as stored (JSON-parsed), read without the store."""
        if self.kind == "sqlite":
            db = sqlite3.connect(self.path)
            try:
                rows = db.execute("SELECT value FROM puregram_kv WHERE key = ?", (key,)).fetchall()
            finally:
                db.close()
            return json.loads(rows[0][0]) if rows else None
        # The asyncio client, closed with aclose(): a sync RedisCluster can leave a
        # startup-node socket for the garbage collector (a ResourceWarning, an error here).
        from redis.asyncio import Redis, RedisCluster

        async def read() -> Any:
            client: Any = (
                Redis.from_url(self.url)
                if self.kind == "redis"
                else RedisCluster.from_url(self.url)
            )
            try:
                return await client.get(self.prefix + key)
            finally:
                await client.aclose()

        raw = asyncio.run(read())
        return None if raw is None else json.loads(raw)


def spawn(backend: Backend, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE), *backend.args, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str], timeout: float = 120) -> str:
    try:
        out, err = child.communicate(timeout=timeout)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0, err
    return out


@pytest.mark.parametrize("kind", ["sqlite", "redis", "redis-cluster"])
def test_an_fsm_flow_survives_a_restart(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = Backend(kind, tmp_path, request)
    assert json.loads(finish(spawn(backend, "flow", "7", "/start", "Ann"))) == ["name?", "age?"]
    assert backend.get("fsm:7:7:state") == "Form:age"
    assert backend.get("fsm:7:7:data") == {"name": "Ann"}
    # A new process, a new Dispatcher: the state and data are read from the store.
    assert json.loads(finish(spawn(backend, "flow", "7", "30"))) == ["Ann is 30"]
    assert backend.get("fsm:7:7:state") is None


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_two_processes_with_event_isolation_lose_no_fsm_write(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Each of two bots feeds 15 overlapping updates for one user; every handler reads
    the data, yields, and writes it back with one more entry. Without cross-process
    isolation the read-modify-write cycles overwrite each other."""
    from tools.children import release_together

    backend = Backend(kind, tmp_path, request)
    children = [spawn(backend, "race", "5", "15", tag) for tag in ("a", "b")]
    try:
        release_together(children)
        for child in children:
            assert finish(child).strip() == "done"
    finally:
        for child in children:
            child.kill()
            child.wait()
    seen = backend.get("fsm:5:5:data")["seen"]
    assert sorted(seen) == sorted(f"{tag}-{k}" for tag in "ab" for k in range(15))
    assert backend.get("fsm:5:5:state") == "Count:30"


if __name__ == "__main__":
    main(sys.argv[1:])
