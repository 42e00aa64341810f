"""python-telegram-bot over puregram stores, end to end: a real ``telegram.ext.Application``
(``process_update``; the Bot API answered by ``FakeRequest``, no network) over a real
SQLite file and a real Redis server.

- user, chat and bot data and a persistent ``ConversationHandler`` survive a new
  ``Application`` in the same process, and a new process after the first was SIGKILLed
  (so nothing depended on a shutdown flush: every update was written when it ended);
- ``ApplicationHandlerStop`` keeps the handler's change;
- two bot processes with ``refresh=True`` on one store see each other's writes.

The test bot is ``packages/ptb/tests/ptb_fakes.py``; the child bot process is ``CHILD``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from _integration import unique_prefix

ROOT = Path(__file__).resolve().parents[1]
FAKES = ROOT / "packages" / "ptb" / "tests"
if str(FAKES) not in sys.path:
    sys.path.insert(0, str(FAKES))

from ptb_fakes import FakeRequest, build_app, message  # noqa: E402

from puregram.ptb import StoragePersistence  # noqa: E402
from puregram.storage import KVStorage  # noqa: E402

pytestmark = pytest.mark.anyio

KINDS = ["sqlite", "redis"]

CHILD = """
import asyncio
import json
import sys

sys.path.insert(0, sys.argv[1])
from ptb_fakes import FakeRequest, build_app, message

from puregram.ptb import StoragePersistence

kind, target, prefix, refresh = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"


async def main() -> None:
    if kind == "sqlite":
        from puregram.storage_sqlite import SqliteStorage

        storage = SqliteStorage.open(target, busy_timeout_ms=30_000)
    else:
        import redis.asyncio

        from puregram.storage_redis import RedisStorage

        storage = RedisStorage(client=redis.asyncio.Redis.from_url(target), prefix=prefix)
    request = FakeRequest()
    app = build_app(StoragePersistence(storage, refresh=refresh), request)
    async with app:
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "quit":
                break
            user, text = line.rstrip("\\n").split(" ", 1)
            before = len(request.replies())
            await app.process_update(message(app, text, user=int(user)))
            print(json.dumps(request.replies()[before:]), flush=True)


asyncio.run(main())
"""


class Backend:
    """Where the bots keep their data: a SQLite file or a Redis server under a prefix."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.prefix = unique_prefix("ptb")
        if kind == "sqlite":
            self.target = str(tmp_path / "bot.db")
        else:
            self.target = str(request.getfixturevalue("redis_url"))

    @asynccontextmanager
    async def storage(self) -> AsyncIterator[KVStorage[Any]]:
        if self.kind == "sqlite":
            from puregram.storage_sqlite import SqliteStorage

            async with SqliteStorage.open(self.target) as store:
                yield store
        else:
            from redis.asyncio import Redis

            from puregram.storage_redis import RedisStorage

            client = Redis.from_url(self.target)
            try:
                yield RedisStorage(client=client, prefix=self.prefix)
            finally:
                await client.aclose()


class Bot:
    """A child bot process: ``send(user, text)`` returns its replies to that update."""

    def __init__(self, backend: Backend, *, refresh: bool = False) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(FAKES),
                backend.kind,
                backend.target,
                backend.prefix,
                "1" if refresh else "0",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            _, err = self.process.communicate(timeout=30)
            raise AssertionError(f"the bot process died:\n{err}")
        return line.strip()

    def send(self, user: int, text: str) -> list[str]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{user} {text}\n")
        self.process.stdin.flush()
        replies: list[str] = json.loads(self._line())
        return replies

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)

    def quit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # PTB and redis-py are asyncio-only


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(str(request.param), tmp_path, request)


@pytest.fixture
def bots() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        if bot.process.poll() is None:
            bot.kill()


async def _run(storage: KVStorage[Any], *texts: str, user: int = 42, **options: Any) -> list[str]:
    request = FakeRequest()
    app = build_app(StoragePersistence(storage, **options), request)
    async with app:
        for text in texts:
            await app.process_update(message(app, text, user=user))
    return request.replies()


async def test_data_and_a_conversation_survive_a_new_application(backend: Backend) -> None:
    async with backend.storage() as storage:
        assert await _run(storage, "/count", "/order") == [
            "count 1 seen 1 total 1",
            "what would you like?",
        ]
        assert await _run(storage, "/count", "pizza") == [
            "count 2 seen 2 total 2",
            "ordered pizza",
        ]
        assert await storage.get("ptb:user_data:42") == {
            "count": 2,
            "ordered": "pizza",
            "group_1": 4,
        }


async def test_data_and_a_conversation_survive_a_killed_process(
    backend: Backend, bots: list[Bot]
) -> None:
    first = Bot(backend)
    bots.append(first)
    assert first.send(42, "/count") == ["count 1 seen 1 total 1"]
    assert first.send(42, "/order") == ["what would you like?"]
    first.kill()  # SIGKILL: no shutdown, no final flush
    second = Bot(backend)
    bots.append(second)
    assert second.send(42, "pizza") == ["ordered pizza"]
    assert second.send(42, "/count") == ["count 2 seen 2 total 2"]
    second.quit()
    async with backend.storage() as storage:
        assert await storage.get("ptb:chat_data:42") == {"seen": 2}
        assert await storage.get("ptb:bot_data") == {"total": 2}
        assert not await storage.has('ptb:conversations:["order",42,42]')


async def test_application_handler_stop_keeps_the_change(backend: Backend) -> None:
    async with backend.storage() as storage:
        await _run(storage, "/stop")
        assert await storage.get("ptb:user_data:42") == {"stopped": 1}
        await _run(storage, "/stop")
        assert await storage.get("ptb:user_data:42") == {"stopped": 2}


async def test_two_processes_with_refresh_see_each_others_writes(
    backend: Backend, bots: list[Bot]
) -> None:
    one = Bot(backend, refresh=True)
    two = Bot(backend, refresh=True)
    bots.extend([one, two])
    assert one.send(42, "/count") == ["count 1 seen 1 total 1"]
    assert two.send(42, "/count") == ["count 2 seen 2 total 2"]
    assert one.send(42, "/count") == ["count 3 seen 3 total 3"]
    assert two.send(7, "/count") == ["count 1 seen 1 total 4"]
    assert one.send(7, "/count") == ["count 2 seen 2 total 5"]
    one.quit()
    two.quit()
    async with backend.storage() as storage:
        assert await storage.get("ptb:user_data:42") == {"count": 3, "group_1": 3}
        assert await storage.get("ptb:bot_data") == {"total": 5}


async def test_without_refresh_two_processes_keep_their_own_copies(
    backend: Backend, bots: list[Bot]
) -> None:
    """The reason ``refresh=True`` exists: PTB reads the store once, at start-up."""
    one = Bot(backend)
    two = Bot(backend)
    bots.extend([one, two])
    assert one.send(42, "/count") == ["count 1 seen 1 total 1"]
    assert two.send(42, "/count") == ["count 1 seen 1 total 1"]
