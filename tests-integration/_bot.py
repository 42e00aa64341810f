"""A bot process for the integration tests (run as a script, never collected by pytest).

Every command drives updates through the session middleware, over a SQLite file opened
with ``SqliteStorage.open`` (the documented settings) or a Redis server::

    python _bot.py (--sqlite PATH | --redis URL | --redis-cluster URL) [--prefix P]
                   [--backend asyncio|trio] [--isolation store|process] [--lease-ms MS] CMD

    drive USERS UPDATES   USERS users x UPDATES updates, 8 in flight; then print one JSON
                          line {user: counter the handler set last} and exit 0.
    stream USERS          updates for users 1..USERS round robin, one at a time, forever;
                          after each update is acknowledged (the middleware returned),
                          print "user counter" and flush.
    hammer USER UPDATES TASKS
                          print "ready", wait for a line on stdin, then UPDATES updates
                          for one USER from TASKS concurrent tasks; print "done COUNT".
    hold USER             one update for USER whose handler prints "holding" and then
                          never returns: a holder to SIGKILL.
    slow USER SLEEP_MS    one update for USER whose handler reads the counter, prints
                          "reading", sleeps SLEEP_MS and bumps it; prints "saved" or, when
                          the save was refused, "lost".

The handler bumps ``session.counter`` and yields between reading and saving it, as a
handler that sends a reply does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from _integration import Middleware, Update, run_counting_update

from puregram.session import LeaseLostError, session
from puregram.storage import KVStorage


@asynccontextmanager
async def open_storage(args: argparse.Namespace) -> AsyncIterator[KVStorage[Any]]:
    if args.sqlite:
        from puregram.storage_sqlite import SqliteStorage

        async with SqliteStorage.open(args.sqlite) as store:
            yield store
    else:
        from redis.asyncio import Redis, RedisCluster

        from puregram.storage_redis import RedisStorage

        client: Redis | RedisCluster = (
            Redis.from_url(args.redis) if args.redis else RedisCluster.from_url(args.redis_cluster)
        )
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


async def hold(middleware: Middleware, user: int) -> None:
    async def handler() -> None:
        print("holding", flush=True)
        await anyio.sleep_forever()

    await middleware(Update(user), handler)


async def slow(middleware: Middleware, user: int, sleep_ms: int) -> None:
    context = Update(user)

    async def handler() -> None:
        counter = int(context.session.get("counter", 0))
        print("reading", flush=True)
        await anyio.sleep(sleep_ms / 1000)
        context.session.counter = counter + 1

    try:
        await middleware(context, handler)
    except LeaseLostError:
        print("lost", flush=True)
    else:
        print("saved", flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite")
    where.add_argument("--redis")
    where.add_argument("--redis-cluster")
    parser.add_argument("--prefix", default="bot:")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--isolation", choices=["store", "process"], default=None)
    parser.add_argument("--lease-ms", type=int, default=30_000)
    parser.add_argument("command", choices=["drive", "stream", "hammer", "hold", "slow"])
    parser.add_argument("numbers", type=int, nargs="*")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)

    async def run() -> None:
        async with open_storage(args) as storage:
            middleware = session(storage=storage, isolation=args.isolation, lease_ms=args.lease_ms)
            commands: dict[str, Callable[..., Awaitable[None]]] = {
                "drive": drive,
                "stream": stream,
                "hammer": hammer,
                "hold": hold,
                "slow": slow,
            }
            await commands[args.command](middleware, *args.numbers)

    anyio.run(run, backend=args.backend)


if __name__ == "__main__":
    main(sys.argv[1:])
