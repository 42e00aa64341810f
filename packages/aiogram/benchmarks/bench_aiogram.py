"""``FsmStorage`` against the FSM storages an aiogram bot author would pick instead.

Over Redis: ``FsmStorage(RedisStorage(client, prefix=""))`` against aiogram's own
``RedisStorage`` on the same client and server, same keys (``DefaultKeyBuilder``).
Over SQLite: ``FsmStorage(SqliteStorage.open(file))`` against aiogram-sqlite-storage's
``SQLStorage`` (json mode) on a file of its own, when that package is installed.

Three operations: ``get_state`` (aiogram calls it on every update), ``set_data``, and a
full update through a ``Dispatcher`` (``feed_update``: the FSM middleware's lock and
``get_state``, a handler that does ``update_data``, a reply to a recording session).
The contenders run interleaved, round by round, their order alternating; the best round
of each is reported, and the ratio is ours / theirs.

    hatch run bench:python packages/aiogram/benchmarks/bench_aiogram.py [--quick]
    ... --redis-url redis://127.0.0.1:6379/0   # a server of yours (else one is started)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.types import Message, Update

from puregram.aiogram import FsmStorage
from puregram.aiogram.testing import make_bot, message_update

ROOT = Path(__file__).resolve().parents[3]
REDIS_PORT = 43_379  # this package's port range (43000-43999), when it starts a server

Op = Callable[[int], Awaitable[object]]


def dispatcher_for(storage: BaseStorage) -> Dispatcher:
    dp = Dispatcher(storage=storage)

    @dp.message()
    async def note(message: Message, state: FSMContext) -> None:
        await state.update_data(last=message.text)
        await message.answer("ok")

    return dp


def operations(storage: BaseStorage) -> dict[str, Op]:
    key = StorageKey(bot_id=42, chat_id=7, user_id=7)
    data = {"name": "Ann", "age": 30, "tags": ["a", "b"]}
    bot = make_bot()
    dp = dispatcher_for(storage)
    update = message_update(user_id=7, text="hello")
    # Mounted on the bot once, as a webhook or polling update would be.
    update = Update.model_validate(update.model_dump(), context={"bot": bot})

    async def get_state(n: int) -> None:
        for _ in range(n):
            await storage.get_state(key)

    async def set_data(n: int) -> None:
        for _ in range(n):
            await storage.set_data(key, data)

    async def set_state(n: int) -> None:
        for _ in range(n):
            await storage.set_state(key, "Form:name")

    async def full_update(n: int) -> None:
        for _ in range(n):
            await dp.feed_update(bot, update)

    return {
        "get_state": get_state,
        "set_state": set_state,
        "set_data": set_data,
        "update via Dispatcher": full_update,
    }


class OneRecord(BaseStorage):
    """The layout FsmStorage did not take, measured beside it: state and data in one
    JSON object ``{"state": ..., "data": ...}`` at one key, so every write is a read and
    a write of the whole record."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.build = DefaultKeyBuilder().build

    async def _record(self, name: str) -> dict[str, Any]:
        return dict(await self.store.get(name) or {"state": None, "data": {}})

    async def set_state(self, key: StorageKey, state: Any = None) -> None:
        name = self.build(key)
        record = await self._record(name)
        record["state"] = getattr(state, "state", state)
        await self.store.set(name, record)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._record(self.build(key)))["state"]  # type: ignore[no-any-return]

    async def set_data(self, key: StorageKey, data: Any) -> None:
        name = self.build(key)
        record = await self._record(name)
        record["data"] = dict(data)
        await self.store.set(name, record)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict((await self._record(self.build(key)))["data"])

    async def close(self) -> None:
        pass


async def prepare(storage: BaseStorage) -> None:
    key = StorageKey(bot_id=42, chat_id=7, user_id=7)
    await storage.set_state(key, "Form:name")
    await storage.set_data(key, {"name": "Ann"})


async def compare(
    contenders: dict[str, BaseStorage], ops: int, rounds: int
) -> list[tuple[str, dict[str, float]]]:
    """Best µs per op of each contender, per operation, interleaved round by round."""
    for storage in contenders.values():
        await prepare(storage)
    table = {name: operations(storage) for name, storage in contenders.items()}
    names = list(contenders)
    rows: list[tuple[str, dict[str, float]]] = []
    for op in table[names[0]]:
        best = {name: float("inf") for name in names}
        for name in names:  # warm-up
            await table[name][op](max(10, ops // 10))
        for round_ in range(rounds):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                start = time.perf_counter()
                await table[name][op](ops)
                best[name] = min(best[name], (time.perf_counter() - start) / ops * 1e6)
        rows.append((op, best))
    return rows


def print_table(
    title: str, ours: str, theirs: str, rows: list[tuple[str, dict[str, float]]]
) -> None:
    others = [name for name in rows[0][1] if name not in (ours, theirs)]
    print(f"\n## {title}\n")
    extra = "".join(f" {name} µs | ratio to {theirs} |" for name in others)
    print(f"| operation | {ours} µs | {theirs} µs | ratio (ours / theirs) |{extra}")
    print("| --- | ---: | ---: | ---: |" + " ---: | ---: |" * len(others))
    for op, best in rows:
        line = (
            f"| {op} | {best[ours]:.1f} | {best[theirs]:.1f} | {best[ours] / best[theirs]:.3f}x |"
        )
        for name in others:
            line += f" {best[name]:.1f} | {best[name] / best[theirs]:.3f}x |"
        print(line)


async def bench_redis(url: str, ops: int, rounds: int) -> None:
    from aiogram.fsm.storage.redis import RedisStorage as AiogramRedisStorage
    from redis.asyncio import Redis

    from puregram.storage_redis import RedisStorage

    client = Redis.from_url(url)
    try:
        ours = FsmStorage(
            RedisStorage(client=client, prefix="ours:"), key_builder=DefaultKeyBuilder()
        )
        theirs = AiogramRedisStorage(client, key_builder=DefaultKeyBuilder(prefix="theirs"))
        one = OneRecord(RedisStorage(client=client, prefix="one:"))
        contenders = {
            "FsmStorage(RedisStorage)": ours,
            "aiogram RedisStorage": theirs,
            "one record (not taken)": one,
        }
        rows = await compare(contenders, ops, rounds)
        print_table(
            f"Redis ({url}), {ops} operations per round, best of {rounds} rounds",
            "FsmStorage(RedisStorage)",
            "aiogram RedisStorage",
            rows,
        )
    finally:
        await client.aclose()


async def bench_sqlite(ops: int, rounds: int) -> None:
    try:
        from aiogram_sqlite_storage.sqlitestore import SQLStorage  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print("\n## SQLite\n\naiogram-sqlite-storage is not installed: no comparison.")
        return
    from importlib.metadata import version

    from puregram.storage_sqlite import SqliteStorage

    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStorage.open(Path(folder) / "ours.db")
        theirs = SQLStorage(str(Path(folder) / "theirs.db"), serializing_method="json")
        try:
            rows = await compare(
                {"FsmStorage(SqliteStorage)": FsmStorage(store), "SQLStorage": theirs}, ops, rounds
            )
        finally:
            await store.close()
            await theirs.close()
    print_table(
        f"SQLite files, {ops} operations per round, best of {rounds} rounds; "
        f"aiogram-sqlite-storage {version('aiogram-sqlite-storage')} (json mode)",
        "FsmStorage(SqliteStorage)",
        "SQLStorage",
        rows,
    )
    print(
        "\nSQLStorage opens its file with sqlite3's defaults (a rollback journal, "
        "synchronous=FULL) and logs and swallows database errors; SqliteStorage.open uses "
        "WAL with synchronous=NORMAL and raises them."
    )


def start_redis() -> Any:
    sys.path.insert(0, str(ROOT))
    from tools.redis_harness import RedisServer, find_redis_server

    server = RedisServer(find_redis_server(), REDIS_PORT, workdir=Path(tempfile.mkdtemp()))
    server.start()
    return server


async def main(args: argparse.Namespace) -> None:
    # Many short rounds: a burst of load on a shared machine spoils a round, not the result.
    ops, rounds = (100, 15) if args.quick else (200, 41)
    print(f"# FsmStorage against aiogram's storages\n\nPython {sys.version.split()[0]}")
    server = None
    url = args.redis_url
    if url is None:
        server = start_redis()
        url = server.url
    try:
        await bench_redis(url, ops, rounds)
    finally:
        if server is not None:
            server.kill()
    await bench_sqlite(ops, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--redis-url", help="use this server instead of starting one")
    asyncio.run(main(parser.parse_args()))
