"""Real bot processes on one SQLite file, one Redis server or one Redis Cluster: a
restart keeps every session, a SIGKILLed writer loses no acknowledged update, and four
workers on the same user lose nothing, through the store's leases: a SIGKILLed holder
frees the user after its lease, and a handler that outlives its lease has its save
refused while the record keeps the other process's update.

The bot is ``_bot.py`` in this folder, run with ``sys.executable``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _integration import (
    FakeClock,
    OpenStore,
    check_session_record,
    run_counting_update,
    unique_prefix,
)

from puregram.session import session
from tools.children import release_together

BOT = str(Path(__file__).with_name("_bot.py"))


class Backend:
    """Where the bots keep their sessions, and a raw view of it for the test."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp_path / "bot.db"
            self.args = ["--sqlite", str(self.path)]
        elif kind == "redis":
            self.url = str(request.getfixturevalue("redis_url"))
            self.prefix = unique_prefix("bots")
            self.args = ["--redis", self.url, "--prefix", self.prefix]
        else:
            self.url = str(request.getfixturevalue("redis_cluster_url"))
            self.prefix = unique_prefix("bots")
            self.args = ["--redis-cluster", self.url, "--prefix", self.prefix]

    def records(self) -> dict[str, Any]:
        """Every stored record, JSON-parsed, by key; read without the store."""
        if self.kind == "sqlite":
            db = sqlite3.connect(self.path)
            try:
                rows = db.execute("SELECT key, value FROM puregram_kv").fetchall()
            finally:
                db.close()
            return {key: json.loads(value) for key, value in rows}
        import redis

        client: Any = (
            redis.Redis.from_url(self.url)
            if self.kind == "redis"
            else redis.RedisCluster.from_url(self.url)
        )
        try:
            names = list(client.scan_iter(match=f"{self.prefix}*"))
            values = [client.get(name) for name in names]
        finally:
            client.close()
        return {
            name.decode()[len(self.prefix) :]: json.loads(value)
            for name, value in zip(names, values, strict=True)
            if value is not None
        }

    def counter(self, user: int) -> int:
        record = check_session_record(self.records().get(str(user), {}))
        return int(record.get("counter", 0))


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(str(request.param), tmp_path, request)


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(str(request.param), tmp_path, request)


def spawn(backend: Backend, *args: str, engine: str = "asyncio") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, BOT, *backend.args, "--backend", engine, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for ``child``; return its stdout, or fail with its stderr."""
    try:
        out, err = child.communicate(timeout=timeout)
    finally:
        child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    assert child.returncode == 0, err
    return out


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still alive afterwards is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        child.kill()
        child.wait()
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()


# -- a bot stops, a new one carries on ----------------------------------------------------


def test_a_new_process_sees_every_session(backend: Backend) -> None:
    """One bot drives 25 users x 8 updates and exits; a second bot (on trio, when the
    store allows) gives each user one more update: every handler finds the counter the
    first bot left, and the records end at 9."""
    first = json.loads(finish(spawn(backend, "drive", "25", "8")))
    assert first == {str(user): 8 for user in range(1, 26)}
    assert backend.records() == {str(user): {"counter": 8} for user in range(1, 26)}

    engine = "trio" if backend.kind == "sqlite" else "asyncio"  # redis-py is asyncio-only
    second = json.loads(finish(spawn(backend, "drive", "25", "1", engine=engine)))
    assert second == {str(user): 9 for user in range(1, 26)}
    assert backend.records() == {str(user): {"counter": 9} for user in range(1, 26)}


# -- a SQLite writer killed mid-stream ----------------------------------------------------


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_killed_sqlite_bot_loses_no_acknowledged_update(
    tmp_path: Path, request: pytest.FixtureRequest, children: list[subprocess.Popen[str]]
) -> None:
    """The bot (``SqliteStorage.open``: WAL, synchronous=NORMAL) prints "user counter"
    after each update the middleware acknowledged, and is SIGKILLed mid-stream.

    Asserted: every user's stored counter is at least its last acknowledged one. It
    may be one more for a single user, the one whose update had committed when the
    kill came but not yet been printed: the bot drives one update at a time, so at most
    one update can be committed and unacknowledged."""
    backend = Backend("sqlite", tmp_path, request)
    child = spawn(backend, "stream", "5")
    children.append(child)
    assert child.stdout is not None
    lines: list[str] = []
    while len(lines) < 300:
        line = child.stdout.readline()
        assert line, f"the bot died early: {child.stderr and child.stderr.read()}"
        lines.append(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    # Lines acknowledged before the kill, still in the pipe or already in the reader's
    # buffer: read through child.stdout (communicate() would skip that buffer).
    lines += child.stdout.read().splitlines(keepends=True)
    assert child.returncode == -signal.SIGKILL

    acknowledged: dict[int, int] = {}
    for line in lines:
        if line.endswith("\n"):  # a line cut by the kill was not fully acknowledged
            user, counter = map(int, line.split())
            assert counter == acknowledged.get(user, 0) + 1, "the bot skipped or lost a count"
            acknowledged[user] = counter
    assert set(acknowledged) == {1, 2, 3, 4, 5}
    stored = {user: backend.counter(user) for user in acknowledged}
    extra = {user: stored[user] - acknowledged[user] for user in acknowledged}
    assert all(gap >= 0 for gap in extra.values()), f"acknowledged updates lost: {extra}"
    assert sum(extra.values()) <= 1, f"more than the one in-flight update landed: {extra}"


# -- four workers on the same user --------------------------------------------------------

WORKERS = 4
PER_WORKER = 200


def _hammer(
    backend: Backend, children: list[subprocess.Popen[str]], *options: str
) -> tuple[int, int]:
    """Four bots give the SAME user 200 updates each from 4 tasks, released together;
    returns (updates sent, final counter)."""
    engines = ["asyncio", "trio"] if backend.kind == "sqlite" else ["asyncio"]
    for worker in range(WORKERS):
        engine = engines[worker % len(engines)]
        args = ("hammer", "1", str(PER_WORKER), "4", *options)
        children.append(spawn(backend, *args, engine=engine))
    release_together(children)
    outputs = [finish(child) for child in children]
    assert outputs == [f"done {PER_WORKER}\n"] * WORKERS
    return WORKERS * PER_WORKER, backend.counter(1)


def test_four_processes_on_one_user_lose_no_update(
    any_backend: Backend, children: list[subprocess.Popen[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Four bots (two on trio where the store allows), each giving the SAME user 200
    updates from 4 tasks, with default options: the store's lease serialises them across
    processes, so the counter ends at exactly 800, in every run."""
    total, final = _hammer(any_backend, children)
    with capsys.disabled():
        print(f"\n[leases] {any_backend.kind}: {WORKERS} x {PER_WORKER} = {total}, kept {final}")
    assert final == total


def test_process_isolation_opts_out_of_leases_and_loses_updates(
    backend: Backend, children: list[subprocess.Popen[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``isolation="process"`` keeps the in-process lock only: between processes the
    last write wins. Asserted: every bot acknowledged its updates and the counter is
    between 1 and 800 (never more than was sent); how many are lost is printed."""
    total, final = _hammer(backend, children, "--isolation", "process")
    with capsys.disabled():
        lost = total - final
        print(f"\n[isolation=process] {backend.kind}: lost {lost} of {total}")
    assert 1 <= final <= total


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_a_sigkilled_lease_holder_frees_the_user_after_its_lease(
    any_backend: Backend, children: list[subprocess.Popen[str]]
) -> None:
    """A bot takes user 1's lease (lease_ms=1500) and is SIGKILLed inside its handler.
    Another bot's 10 updates for user 1 then wait for that lease to run out, not
    forever, and every one of them is kept on top of what was acknowledged before."""
    assert json.loads(finish(spawn(any_backend, "drive", "1", "5"))) == {"1": 5}
    holder = spawn(any_backend, "--lease-ms", "1500", "hold", "1")
    children.append(holder)
    assert holder.stdout is not None
    assert holder.stdout.readline() == "holding\n", holder.stderr and holder.stderr.read()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    started = time.monotonic()
    after = json.loads(finish(spawn(any_backend, "drive", "1", "10")))
    waited = time.monotonic() - started
    assert after == {"1": 15}
    assert any_backend.counter(1) == 15
    assert waited < 30, f"the dead holder's lease held user 1 for {waited:.1f} s"


def test_a_handler_that_outlives_its_lease_cannot_overwrite(
    any_backend: Backend, children: list[subprocess.Popen[str]]
) -> None:
    """Bot A reads user 1 under a 300 ms lease and sleeps 1.5 s in its handler; bot B
    takes over once the lease ran out and saves. A's save is refused (LeaseLostError),
    and the record holds B's update: nothing is silently overwritten."""
    assert json.loads(finish(spawn(any_backend, "drive", "1", "1"))) == {"1": 1}
    slow = spawn(any_backend, "--lease-ms", "300", "slow", "1", "1500")
    children.append(slow)
    assert slow.stdout is not None
    assert slow.stdout.readline() == "reading\n", slow.stderr and slow.stderr.read()
    assert json.loads(finish(spawn(any_backend, "drive", "1", "1"))) == {"1": 2}
    assert finish(slow) == "lost\n"
    assert any_backend.counter(1) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("anyio_backend", "kind"),
    [("asyncio", "sqlite"), ("trio", "sqlite"), ("asyncio", "redis")],
    ids=["sqlite-asyncio", "sqlite-trio", "redis-asyncio"],
)
async def test_one_process_loses_no_update_on_one_user(
    anyio_backend: str, kind: str, store_opener: OpenStore
) -> None:
    """The same load in one process: 4 x 200 concurrent updates for one user through one
    middleware. The per-key lock serialises them, so the counter is exactly 800."""
    async with store_opener(kind, clock=FakeClock()) as case:
        middleware = session(storage=case.storage)
        async with anyio.create_task_group() as group:
            for _ in range(WORKERS * PER_WORKER):
                group.start_soon(run_counting_update, middleware, 1)
        assert await case.raw_session("1") == {"counter": WORKERS * PER_WORKER}
