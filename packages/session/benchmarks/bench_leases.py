"""What the store's lease costs the session middleware, measured in one run.

Part 1, one hot key, over a SQLite file (``SqliteStorage.open``) and a real Redis: 1 and
4 bot processes, each giving the same user N updates from 4 tasks, whose handler yields
once between reading and saving ``session.counter`` (as ``run_counting_update`` in
``tests-integration/_integration.py``). The children are this file run with ``--child``;
they are released together (``tools/children.py``). Reported: updates/s (all updates
over the wall time from the release to the last child done), lost updates (total minus
the final counter: must be 0), the wait for the lease (from calling the middleware to
the handler starting, p50 and p99 over every update of every process) and the CPU time
(user + sys) the children spent during the run, per update, to show that waiting does
not busy-loop.

Part 2, Redis: round trips per update, counted by the server (``INFO commandstats``
after ``CONFIG RESETSTAT``), for the lease path and the in-process path, with a session
that changes and one that does not. Expected: 2, 2, 2, 1.

Part 3, distinct keys, no contention, one process: µs per update through
``isolation="process"`` and ``isolation="store"`` next to a hand-written baseline (get,
copy, handle, set with the store directly), over MemoryStorage, SQLite and Redis. Rounds
are interleaved and the best round of each side counts. Target: store <= 1.1x process.

    hatch run python packages/session/benchmarks/bench_leases.py [--quick]
    hatch run python packages/session/benchmarks/bench_leases.py --redis-url redis://...

Nothing here asserts a time; it prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from puregram.session import session
from puregram.storage import KVStorage, MemoryStorage

ROOT = Path(__file__).resolve().parents[3]
"""The repository root (for ``tools``)."""

HOT_USER = 42
TASKS = 4
USERS = 200
"""Distinct keys of parts 2 and 3."""

RUN = time.time_ns()
"""Every Redis key of this run starts with ``bench-leases-{RUN}-``; all are deleted at the end."""

Middleware = Callable[[Any, Callable[[], Awaitable[object]]], Awaitable[None]]


class Update:
    __slots__ = ("sender_id", "session")

    def __init__(self, sender_id: int) -> None:
        self.sender_id = sender_id
        self.session: Any = None


def record(user: int) -> dict[str, Any]:
    return {"counter": 0, "user": {"id": user, "name": "ann", "lang": "en"}, "step": "menu"}


async def counting_update(middleware: Middleware, user: int, waits: list[float] | None) -> None:
    """One update whose handler bumps ``session.counter`` and yields between reading and
    saving it. Appends to ``waits`` the seconds from the call to the handler starting."""
    context = Update(user)
    called = time.perf_counter()

    async def handler() -> None:
        if waits is not None:
            waits.append(time.perf_counter() - called)
        counter = int(context.session.get("counter", 0)) + 1
        await anyio.lowlevel.checkpoint()  # the reply: other updates run meanwhile
        context.session.counter = counter

    await middleware(context, handler)


# -- stores ---------------------------------------------------------------------------------


@asynccontextmanager
async def open_store(kind: str, where: str, prefix: str) -> AsyncIterator[KVStorage[Any]]:
    """``kind`` is memory, sqlite (``where`` is the file) or redis (``where`` is the URL)."""
    if kind == "memory":
        yield MemoryStorage()
    elif kind == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        async with SqliteStorage.open(where) as sqlite_store:
            yield sqlite_store
    else:
        from redis.asyncio import Redis

        from puregram.storage_redis import RedisStorage

        client = Redis.from_url(where)
        try:
            yield RedisStorage(client=client, prefix=prefix)
        finally:
            await client.aclose()


# -- the child (part 1) ---------------------------------------------------------------------


async def child(args: argparse.Namespace) -> None:
    kind, where = ("sqlite", args.sqlite) if args.sqlite else ("redis", args.redis)
    async with open_store(kind, where, args.prefix) as store:
        middleware = session(storage=store, isolation=args.isolation)
        await counting_update(middleware, HOT_USER + 1, None)  # connect and warm up, apart
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        waits: list[float] = []
        pending = iter(range(args.updates))
        done = [0]

        async def worker() -> None:
            for _ in pending:
                await counting_update(middleware, HOT_USER, waits)
                done[0] += 1

        before = resource.getrusage(resource.RUSAGE_SELF)
        async with anyio.create_task_group() as group:
            for _ in range(args.tasks):
                group.start_soon(worker)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(json.dumps({"done": done[0], "cpu": cpu, "waits": waits}), flush=True)


# -- part 1: one hot key, 1 and 4 processes -------------------------------------------------


@dataclass
class HotRow:
    backend: str
    isolation: str
    processes: int
    total: int
    wall: float
    final: int
    waits: list[float]
    cpu: float
    children_cpu: float


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def create_hot_key(kind: str, where: str, prefix: str) -> None:
    """Store the hot session before the children start. (Left missing, the in-process
    path over several processes can fail: ``get`` says missing, another process creates
    the key, then ``has`` says present and the middleware reports a stored JSON null.)"""
    async with open_store(kind, where, prefix) as store:
        await store.set(str(HOT_USER), record(HOT_USER))


async def final_counter(kind: str, where: str, prefix: str) -> int:
    async with open_store(kind, where, prefix) as store:
        value = await store.get(str(HOT_USER))
    return int(value["counter"]) if isinstance(value, dict) else 0


def hot_key(
    kind: str, where: str, prefix: str, isolation: str, processes: int, updates: int
) -> HotRow:
    sys.path.insert(0, str(ROOT))
    from tools.children import release_together

    flag = "--sqlite" if kind == "sqlite" else "--redis"
    command = [sys.executable, __file__, "--child", flag, where, "--prefix", prefix]
    command += ["--updates", str(updates), "--tasks", str(TASKS), "--isolation", isolation]
    anyio.run(create_hot_key, kind, where, prefix)
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = [
        subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        release_together(children)
        start = time.perf_counter()
        reports = []
        for process in children:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, process.stderr and process.stderr.read()
            reports.append(json.loads(line))
        wall = time.perf_counter() - start
        for process in children:
            process.communicate(timeout=30)
            assert process.returncode == 0, process.returncode
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
                process.wait()
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    final = anyio.run(final_counter, kind, where, prefix)
    return HotRow(
        backend=kind,
        isolation=isolation,
        processes=processes,
        total=sum(int(report["done"]) for report in reports),
        wall=wall,
        final=final,
        waits=[wait for report in reports for wait in report["waits"]],
        cpu=sum(float(report["cpu"]) for report in reports),
        children_cpu=children_cpu,
    )


def print_hot(rows: list[HotRow], updates: int) -> None:
    print(
        f"\n## One hot key: every process gives user {HOT_USER} {updates} updates "
        f"from {TASKS} tasks\n"
    )
    print(
        "| store | isolation | processes | updates | updates/s | lost updates | wait p50 ms "
        "| wait p99 ms | CPU during run s | CPU µs per update | CPU / wall "
        "| CPU of whole children s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row.backend} | {row.isolation} | {row.processes} | {row.total} "
            f"| {row.total / row.wall:,.0f} "
            f"| {row.total - row.final} | {percentile(row.waits, 0.5) * 1e3:.2f} "
            f"| {percentile(row.waits, 0.99) * 1e3:.2f} | {row.cpu:.2f} "
            f"| {row.cpu / row.total * 1e6:.0f} | {row.cpu / row.wall:.2f} "
            f"| {row.children_cpu:.2f} |"
        )
    print(
        "\nWait: from calling the middleware to the handler starting, for the lease (or, with "
        "isolation='process', the in-process lock) and the round trip that reads the session "
        "(with the lease: the one that takes it and reads the session). CPU during run: user "
        "+ sys of the children from the release to their last update (RUSAGE_SELF), "
        "summed; CPU / wall above 1 means more than one core busy. CPU of whole children: "
        "RUSAGE_CHILDREN, start-up and imports included. isolation='process' (the "
        "in-process lock) is there for comparison: it cannot protect a key across "
        "processes, so its 4-process rows may lose updates."
    )


# -- part 2: round trips per update on Redis ------------------------------------------------


async def round_trips(url: str, updates: int) -> list[tuple[str, str, float, float, float]]:
    """Per case: the commands the server ran (``INFO commandstats``, which also counts
    the commands a Lua script calls), the round trips (requests the client sent, counted
    by its connection), the scripts run (EVAL, EVALSHA) and the µs per update, all per
    update."""
    from redis.asyncio import Redis
    from redis.asyncio.connection import Connection

    from puregram.storage_redis import RedisStorage

    sent = [0]

    class CountingConnection(Connection):
        """Counts the requests written to the server: one per round trip (a pipeline,
        written at once, counts as one)."""

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent[0] += 1
            await super().send_packed_command(command, check_health)

    client = Redis.from_url(url, connection_class=CountingConnection)
    rows = []
    try:
        cases = [
            ("lease (isolation='store'), changed", "store", True),
            ("lease (isolation='store'), unchanged", "store", False),
            ("process (isolation='process'), changed", "process", True),
            ("process (isolation='process'), unchanged", "process", False),
        ]
        for label, isolation, change in cases:
            prefix = f"bench-leases-{RUN}-rt-{isolation}-{change}:"
            store: RedisStorage[Any] = RedisStorage(client=client, prefix=prefix)
            for user in range(USERS):
                await store.set(str(user), record(user))
            middleware = session(storage=store, isolation=isolation)  # type: ignore[arg-type]
            await one_update(middleware, USERS, change)  # load the scripts, apart
            await client.ping()  # the connection exists before the reset
            await client.config_resetstat()
            sent[0] = 0
            start = time.perf_counter()
            for i in range(updates):
                await one_update(middleware, i % USERS, change)
            elapsed = time.perf_counter() - start
            requests = sent[0]
            stats = await client.info("commandstats")
            counted = {
                name.removeprefix("cmdstat_").upper(): int(entry["calls"])
                for name, entry in stats.items()
                if name not in ("cmdstat_info", "cmdstat_config", "cmdstat_ping")
            }
            scripts = sum(
                calls for name, calls in counted.items() if name in ("EVAL", "EVALSHA", "FCALL")
            )
            commands = " + ".join(
                f"{name} {calls / updates:g}" for name, calls in sorted(counted.items())
            )
            rows.append((label, commands, requests / updates, scripts / updates, elapsed / updates))
    finally:
        await client.aclose()
    return rows


async def delete_prefix(client: Any, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)


async def one_update(middleware: Middleware, user: int, change: bool) -> None:
    context = Update(user)

    async def handler() -> None:
        counter = int(context.session.get("counter", 0))
        await anyio.lowlevel.checkpoint()
        if change:
            context.session.counter = counter + 1

    await middleware(context, handler)


def print_round_trips(rows: list[tuple[str, str, float, float, float]], updates: int) -> None:
    print(
        f"\n## Round trips per update on Redis ({updates} updates over {USERS} users, "
        "one process)\n"
    )
    print(
        "| path, session | round trips per update | scripts per update "
        "| commands the server ran per update | µs per update |"
    )
    print("| --- | ---: | ---: | --- | ---: |")
    for label, commands, trips, scripts, seconds in rows:
        print(f"| {label} | {trips:g} | {scripts:g} | {commands} | {seconds * 1e6:.1f} |")
    print(
        "\nExpected round trips: 2, 2, 2, 1. Round trips: requests the client wrote to "
        "the server (a connection that counts them). Commands: INFO commandstats after "
        "CONFIG RESETSTAT, which counts the commands a Lua script calls as well as the "
        "EVAL/EVALSHA that ran it."
    )


# -- part 3: distinct keys, no contention ---------------------------------------------------


async def through_middleware(middleware: Middleware, updates: int, change: bool) -> None:
    for i in range(updates):
        await one_update(middleware, i % USERS, change)


async def by_hand(store: KVStorage[Any], updates: int, change: bool) -> None:
    """The baseline: get, a copy the handler may mutate, the same handler, set if changed."""
    for i in range(updates):
        key = str(i % USERS)
        raw = await store.get(key)
        before = json.dumps(raw if raw is not None else {})
        data = json.loads(before)
        counter = int(data.get("counter", 0))
        await anyio.lowlevel.checkpoint()
        if change:
            data["counter"] = counter + 1
        if json.dumps(data) != before:
            await store.set(key, data)


async def distinct_keys(
    kind: str, where: str, updates: int, rounds: int
) -> list[tuple[str, str, float, float, float]]:
    """Best µs per update of (by hand, process, store), for a changed and an unchanged
    session. Each side has its own store over the same backend (its own SQLite file in
    one folder, its own Redis prefix on one server)."""
    rows = []
    tag = RUN
    for change in (True, False):
        async with AsyncExitStack() as stack:
            sides: list[tuple[list[float], Callable[[], Awaitable[None]]]] = []
            for side in ("hand", "process", "store"):
                place = f"{where}-{side}-{change}.db" if kind == "sqlite" else where
                prefix = f"bench-leases-{tag}-dk-{side}-{change}:"
                store = await stack.enter_async_context(open_store(kind, place, prefix))
                for user in range(USERS):
                    await store.set(str(user), record(user))
                run: Callable[[], Awaitable[None]]
                if side == "hand":
                    run = partial(by_hand, store, updates, change)
                else:
                    middleware = session(storage=store, isolation=side)  # type: ignore[arg-type]
                    run = partial(through_middleware, middleware, updates, change)
                await run()  # warm up: connections, statements, the lease table
                sides.append(([], run))
            for _ in range(rounds):
                for times, run in sides:
                    start = time.perf_counter()
                    await run()
                    times.append(time.perf_counter() - start)
            hand, process, leased = (min(times) / updates * 1e6 for times, _ in sides)
            rows.append((kind, "changed" if change else "unchanged", hand, process, leased))
    return rows


def print_distinct(
    rows: list[tuple[str, str, float, float, float]], updates: int, rounds: int
) -> None:
    print(
        f"\n## Distinct keys, no contention: one process, {updates} updates per round over "
        f"{USERS} users, best of {rounds} interleaved rounds\n"
    )
    print(
        "| store | session | by hand (get + set) µs | isolation='process' µs "
        "| isolation='store' µs | process / by hand | store / by hand | store / process |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind, label, hand, process, leased in rows:
        print(
            f"| {kind} | {label} | {hand:.1f} | {process:.1f} | {leased:.1f} "
            f"| {process / hand:.2f}x | {leased / hand:.2f}x | {leased / process:.2f}x |"
        )
    print("\nTarget: lease-free updates on distinct keys cost at most 1.1x today's path.")


# -- main -----------------------------------------------------------------------------------


def start_redis() -> str:
    sys.path.insert(0, str(ROOT))
    from tools.redis_harness import HARNESS

    return HARNESS.server().url


def main(args: argparse.Namespace) -> None:
    hot_updates, rt_updates, dk_updates, rounds = (
        (100, 400, 200, 3) if args.quick else (500, 2_000, 1_000, 7)
    )
    url = args.redis_url or start_redis()
    source = "--redis-url" if args.redis_url else "started by tools/redis_harness.py"
    print(
        f"Python {sys.version.split()[0]}, asyncio, {os.cpu_count()} CPUs, "
        f"Redis {source}{', --quick' if args.quick else ''}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-leases-") as folder:
        rows = []
        for kind in ("sqlite", "redis"):
            for isolation, processes in (
                ("store", 1),
                ("store", 4),
                ("process", 1),
                ("process", 4),
            ):
                tag = f"{RUN}-hot-{kind}-{isolation}-{processes}"
                where = str(Path(folder) / f"{tag}.db") if kind == "sqlite" else url
                prefix = f"bench-leases-{tag}:"
                rows.append(hot_key(kind, where, prefix, isolation, processes, hot_updates))
        print_hot(rows, hot_updates)
        print_round_trips(anyio.run(round_trips, url, rt_updates), rt_updates)
        distinct = []
        for kind in ("memory", "sqlite", "redis"):
            where = str(Path(folder) / "distinct") if kind == "sqlite" else url
            distinct += anyio.run(distinct_keys, kind, where, dk_updates, rounds)
        print_distinct(distinct, dk_updates, rounds)
    anyio.run(cleanup, url, f"bench-leases-{RUN}-")


async def cleanup(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        await delete_prefix(client, prefix)
    finally:
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates and rounds")
    parser.add_argument("--redis-url", help="use this server instead of starting one")
    child_options = parser.add_argument_group("the child process of part 1 (internal)")
    child_options.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    child_options.add_argument("--sqlite", help=argparse.SUPPRESS)
    child_options.add_argument("--redis", help=argparse.SUPPRESS)
    child_options.add_argument("--prefix", default="bench-leases:", help=argparse.SUPPRESS)
    child_options.add_argument("--updates", type=int, default=100, help=argparse.SUPPRESS)
    child_options.add_argument("--tasks", type=int, default=TASKS, help=argparse.SUPPRESS)
    child_options.add_argument(
        "--isolation", choices=["store", "process"], default="store", help=argparse.SUPPRESS
    )
    arguments = parser.parse_args()
    if arguments.child:
        anyio.run(child, arguments)
    else:
        main(arguments)
