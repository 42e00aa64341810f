"""A simulated bot: users send updates through the session middleware.

Each update counts in ``context.session.counter`` and remembers the last text in a field
that expires after a minute (``ttl``). Storage is a local SQLite file by default, so a
second run continues the counters; the report says where the data is and whether the
run continued an earlier one. A Redis server that cannot be reached is one line on
stderr and exit status 1. ``python tools/demo.py --help`` lists the options.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TextIO

import anyio

from puregram.session import session, ttl
from puregram.storage import KVStorage, MemoryStorage, is_iterable_storage

Middleware = Callable[[Any, Callable[[], Awaitable[object]]], Awaitable[None]]
REDIS_PREFIX = "puregram-demo:"


class Unreachable(Exception):
    """The store's server cannot be reached; the message is the one line to print."""


@dataclass
class Update:
    """What the middleware needs of a puregram context: a sender and room for a session."""

    sender_id: int
    text: str
    session: Any = None


async def handle(context: Update) -> None:
    """The bot's handler: count, and remember the last text for a minute."""
    context.session.counter += 1
    context.session.last_text = ttl(context.text, 60_000)


class Progress:
    """A one-line progress bar on a terminal; a few plain lines elsewhere."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.done, self.out = total, 0, out
        self.tty = out.isatty()
        self.step = max(1, total // (100 if self.tty else 4))

    def advance(self) -> None:
        self.done += 1
        if self.done % self.step == 0 or self.done == self.total:
            filled = 30 * self.done // self.total
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {self.done:,}/{self.total:,} updates"
            print(f"\r{bar}" if self.tty else bar, end="" if self.tty else "\n", file=self.out)
            if self.tty and self.done == self.total:
                print(file=self.out)


@asynccontextmanager
async def open_storage(args: argparse.Namespace) -> AsyncIterator[KVStorage[Any]]:
    """The store the options ask for; closed (and its client released) at the end."""
    if args.storage == "memory":
        yield MemoryStorage()
    elif args.storage == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        async with SqliteStorage.open(args.db) as storage:  # WAL, synchronous=NORMAL
            yield storage
    else:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        from puregram.storage_redis import RedisStorage

        client = Redis.from_url(args.redis_url, socket_connect_timeout=3)
        try:
            try:
                await client.ping()
            except (RedisError, OSError) as error:
                reason = str(error).rstrip(".")
                raise Unreachable(
                    f"cannot reach Redis at {args.redis_url} ({reason}); start a server there, "
                    f"pass --redis-url, or run with --storage sqlite"
                ) from None
            yield RedisStorage(client=client, prefix=REDIS_PREFIX)
        finally:
            await client.aclose()


def where(args: argparse.Namespace) -> str:
    """Where this run's sessions live, for the report."""
    if args.storage == "memory":
        return "in memory (gone when the demo exits)"
    if args.storage == "sqlite":
        return f"SQLite file {os.path.abspath(args.db)}"
    return f"Redis {args.redis_url}, keys {REDIS_PREFIX}*"


async def earlier_sessions(storage: KVStorage[Any], args: argparse.Namespace) -> int:
    """How many of this run's users already have a session (0: a fresh run)."""
    found = 0
    for user in range(1, args.users + 1):
        found += await storage.has(str(user))
    return found


async def simulate(storage: KVStorage[Any], args: argparse.Namespace, out: TextIO) -> None:
    middleware: Middleware = session(storage=storage, initial=lambda context: {"counter": 0})
    earlier = await earlier_sessions(storage, args)
    print(f"data: {where(args)}", file=out)
    if earlier:
        print(
            f"continuing an earlier run: {earlier:,} of {args.users:,} users have a session",
            file=out,
        )
    else:
        print("a fresh run: no earlier sessions found", file=out)
    updates = [
        Update(sender_id=user, text=f"message {n} from user {user}")
        for n in range(args.updates)
        for user in range(1, args.users + 1)
    ]
    random.Random(0).shuffle(updates)
    progress = Progress(len(updates), out)
    pending = iter(updates)

    async def worker() -> None:
        # Workers pull updates as a polling bot would; updates of one user overlap, and
        # the middleware's per-key lock keeps every count.
        for update in pending:
            await middleware(update, partial(handle, update))
            progress.advance()

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for _ in range(args.concurrency):
            tasks.start_soon(worker)
    elapsed = time.perf_counter() - started

    stored = "n/a (store cannot iterate)"
    if is_iterable_storage(storage):
        stored = f"{sum([1 async for _ in storage.keys()]):,}"
    sample = await storage.get("1")
    print(
        f"\n{len(updates):,} updates in {elapsed:.2f} s: {len(updates) / elapsed:,.0f} updates/s"
        f" ({args.storage}, {args.concurrency} concurrent)\n"
        f"sessions stored: {stored}\n"
        f"record of user 1 as stored: {json.dumps(sample, ensure_ascii=False)}",
        file=out,
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hatch run demo",
        description="Simulate a bot: USERS users send UPDATES updates each through the "
        "puregram session middleware, counting and keeping a ttl'd field. Run it again "
        "and the counters continue (except with --storage memory).",
    )
    parser.add_argument(
        "--storage",
        choices=["memory", "sqlite", "redis"],
        default="sqlite",
        help="where sessions live: memory (gone at exit), sqlite (a local file, the "
        "default: nothing to start), redis (a running server, see --redis-url)",
    )
    parser.add_argument(
        "--db", default="puregram-demo.db", help="SQLite file (default: %(default)s)"
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="Redis server for --storage redis (default: %(default)s)",
    )
    parser.add_argument("--users", type=int, default=1_000, help="default: %(default)s")
    parser.add_argument("--updates", type=int, default=20, help="per user; default: %(default)s")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="updates in flight; default: %(default)s"
    )
    args = parser.parse_args(argv)
    for name in ("users", "updates", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the demo; return the exit status (1, with one line on ``err``, when the
    store's server cannot be reached)."""
    args = parse(argv)

    async def run() -> None:
        async with open_storage(args) as storage:
            await simulate(storage, args, out)

    try:
        anyio.run(run)
    except Unreachable as error:
        print(f"demo: {error}", file=err)
        return 1
    except Exception as error:
        lost = _connection_errors(error)
        if not lost:
            raise
        print(f"demo: lost the connection to the store mid-run ({lost[0]})", file=err)
        return 1
    return 0


def _connection_errors(error: BaseException) -> list[BaseException]:
    """The leaves of an exception group when every one is a lost connection, else []."""
    leaves: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        nested = getattr(current, "exceptions", None)
        if isinstance(nested, tuple):
            pending.extend(nested)
        else:
            leaves.append(current)
    names = {"ConnectionError", "TimeoutError", "ConnectionResetError", "BrokenPipeError"}
    if all(type(leaf).__name__ in names or isinstance(leaf, OSError) for leaf in leaves):
        return leaves
    return []


if __name__ == "__main__":
    sys.exit(main())
