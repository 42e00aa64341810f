"""A bot process for the integration tests (run as a script, never collected by pytest).

Every command drives updates through the session middleware, over a SQLite file opened
with ``SqliteStorage.open`` (the documented settings) or a Redis server::

    python _bot.py (--sqlite PATH | --redis URL --prefix P) [--backend asyncio|trio] CMD

    drive USERS UPDATES   USERS users x UPDATES updates, 8 in flight; then print one JSON
                          line {user: counter the handler set last} and exit 0.
    stream USERS          updates for users 1..USERS round robin, one at a time, forever;
                          after each update is acknowledged (the middleware returned),
                          print "user counter" and flush.
    hammer USER UPDATES TASKS
                          print "ready", wait for a line on stdin, then UPDATES updates
                          for one USER from TASKS concurrent tasks; print "done COUNT".

The handler bumps ``session.counter`` and yields between reading and saving it, as a
handler that sends a reply does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from _integration import Middleware, run_counting_update

from puregram.session import session
from puregram.storage import KVStorage


@asynccontextmanager
async def open_storage(args: argparse.Namespace) -> AsyncIterator[KVStorage[Any]]:
    if args.sqlite:
        from puregram.storage_sqlite import SqliteStorage

        async with SqliteStorage.open(args.sqlite) as store:
            yield store
    else:
        from redis.asyncio import Redis

        from puregram.storage_redis import RedisStorage

        client = Redis.from_url(args.redis)
        try:
            yield RedisStorage(client=client, prefix=args.prefix)
        finally:
            await client.aclose()


async def drive(middleware: Middleware, users: int, updates: int) -> None:
    pending = iter([user for _ in range(updates) for user in range(1, users + 1)])
    last: dict[int, int] = {}

    async def worker() -> None:
        for user in pending:
            last[user] = await run_counting_update(middleware, user)

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(worker)
    print(json.dumps(last, sort_keys=True), flush=True)


async def stream(middleware: Middleware, users: int) -> None:
    while True:
        for user in range(1, users + 1):
            counter = await run_counting_update(middleware, user)
            sys.stdout.write(f"{user} {counter}\n")
            sys.stdout.flush()


async def hammer(middleware: Middleware, user: int, updates: int, tasks: int) -> None:
    print("ready", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    pending = iter(range(updates))
    done = [0]

    async def worker() -> None:
        for _ in pending:
            await run_counting_update(middleware, user)
            done[0] += 1

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(worker)
    print(f"done {done[0]}", flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite")
    where.add_argument("--redis")
    parser.add_argument("--prefix", default="bot:")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("command", choices=["drive", "stream", "hammer"])
    parser.add_argument("numbers", type=int, nargs="*")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)

    async def run() -> None:
        async with open_storage(args) as storage:
            middleware = session(storage=storage)
            if args.command == "drive":
                await drive(middleware, *args.numbers)
            elif args.command == "stream":
                await stream(middleware, *args.numbers)
            else:
                await hammer(middleware, *args.numbers)

    anyio.run(run, backend=args.backend)


if __name__ == "__main__":
    main(sys.argv[1:])
