"""Real PostgreSQL servers for tests: a pytest plugin, also usable from scripts.

Registered by the root ``conftest.py`` (``pytest_plugins``) beside the Redis harness.
Every server lives in the module singleton ``HARNESS``; nothing starts until a fixture
asks for one, and every server is stopped at the end of the session (with an ``atexit``
fallback; on Linux a server also dies with the process that started it).

Fixtures:

- ``postgres_url`` (session): a DSN for a shared server (``fsync=off``: fast, for tests
  that do not crash it). ``PUREGRAM_POSTGRES_URL`` points the tests at a running server
  instead.
- ``postgres_server_factory`` (function): ``factory()`` starts a dedicated, durable
  ``PostgresServer`` (``fsync=on``) that the test may ``kill()`` (SIGKILL of the whole
  server, a crash) and ``start()`` again on the same port and data folder.

The binaries (``initdb``, ``postgres``) come from ``$PUREGRAM_POSTGRES_BIN`` (a folder),
else ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin`` (Debian), else
``PATH``. PostgreSQL refuses to run as root: as root the harness runs it as the user
``$PUREGRAM_POSTGRES_USER`` (default ``nobody``), in a data folder it owns. Ports come
from ``$PUREGRAM_POSTGRES_PORTS`` (``low-high``, default 45000-45999). When no server can
be found or started, the fixtures skip with one line saying how to get one (and fail
under ``PUREGRAM_REQUIRE_POSTGRES=1``, which ``.ci/run`` sets).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NoReturn

import pytest

__all__ = [
    "HARNESS",
    "HOW_TO_GET_ONE",
    "PostgresHarness",
    "PostgresNotAvailable",
    "PostgresServer",
    "find_postgres_bin",
    "postgres_server_factory",
    "postgres_url",
]

START_TIMEOUT_S = 30.0

HOW_TO_GET_ONE = (
    "no PostgreSQL server for the Postgres tests: install one (Debian: `apt-get install "
    "postgresql`; or set PUREGRAM_POSTGRES_BIN to a folder with initdb and postgres), or "
    "set PUREGRAM_POSTGRES_URL=postgresql://user@host:port/db to use a running server"
)


class PostgresNotAvailable(RuntimeError):
    """No server could be found or started; the message says how to get one."""


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``postgres``, looked up in the documented order."""
    candidates: list[str] = []
    explicit = os.environ.get("PUREGRAM_POSTGRES_BIN")
    if explicit:
        candidates.append(explicit)
    else:
        pg_config = shutil.which("pg_config")
        if pg_config:
            try:
                out = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
                )
                candidates.append(out.stdout.strip())
            except (OSError, subprocess.SubprocessError):
                pass

        def version(path: str) -> float:
            try:
                return float(Path(path).parent.name)
            except ValueError:
                return 0.0

        candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True))
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        path = Path(folder)
        if all(os.access(path / name, os.X_OK) for name in ("initdb", "postgres")):
            return path
    where = f"PUREGRAM_POSTGRES_BIN={explicit!r} has no initdb and postgres; " if explicit else ""
    raise PostgresNotAvailable(where + HOW_TO_GET_ONE)


def _port_range() -> tuple[int, int]:
    text = os.environ.get("PUREGRAM_POSTGRES_PORTS", "45000-45999")
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """A free port on 127.0.0.1 in the harness's range."""
    low, high = _port_range()
    for _ in range(200):
        port = random.randint(low, high)
        if port not in taken and _port_is_free(port):
            return port
    raise PostgresNotAvailable(f"no free port in {low}-{high} for PostgreSQL")


def _libc() -> object | None:
    """libc, loaded in the parent: a child that switched to an unprivileged user may no
    longer be able to read Python's own files to import ctypes."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (OSError, AttributeError):  # not Linux/glibc: the atexit hook still stops it
        return None


_LIBC = _libc() if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child before exec (after any change of user): SIGQUIT (immediate
    shutdown) when the parent dies."""
    if _LIBC is not None:
        pr_set_pdeathsig = 1
        _LIBC.prctl(pr_set_pdeathsig, signal.SIGQUIT)  # type: ignore[attr-defined]


def _run_as() -> str | None:
    """The user to run the server as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    return os.environ.get("PUREGRAM_POSTGRES_USER", "nobody")


def _accepts(port: int, timeout: float = 0.5) -> bool:
    """True when the server on ``port`` answers a startup packet (any answer: an
    authentication request or an error such as "the database system is starting up"
    counts only when it is an authentication request)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            body = b"user\0postgres\0database\0postgres\0\0"
            packet = (8 + len(body)).to_bytes(4, "big") + (196608).to_bytes(4, "big") + body
            conn.sendall(packet)
            reply = conn.recv(1)
            return reply == b"R"  # AuthenticationOk/request: ready for queries
    except OSError:
        return False


class PostgresServer:
    """One PostgreSQL server on 127.0.0.1 (no unix socket), trust authentication, user
    ``postgres``. ``kill()`` SIGKILLs every process of it (a crash); ``start()`` starts it
    again on the same port and data folder, and it recovers from its WAL."""

    def __init__(self, bin_dir: Path, port: int, folder: Path, *, durable: bool) -> None:
        self.bin_dir = bin_dir
        self.port = port
        self.folder = folder
        self.durable = durable
        self._process: subprocess.Popen[bytes] | None = None
        self._user = _run_as()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _popen(self, command: list[str], log: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user,
            group=None if self._user is None else pwd.getpwnam(self._user).pw_gid,
            extra_groups=None if self._user is None else [],
            preexec_fn=_die_with_parent if _LIBC is not None else None,
            cwd=self.folder,
            start_new_session=True,  # its own process group: kill() reaches every backend
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
        )

    def init(self) -> None:
        """``initdb`` the data folder (once)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        os.chmod(self.folder, 0o700)
        with self.log_path.open("ab") as log:
            if self._user is not None:
                os.chown(self.log_path, pwd.getpwnam(self._user).pw_uid, -1)
            command = [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
            process = self._popen(command, log)
            if process.wait(timeout=120) != 0:
                tail = self.log_path.read_text(errors="replace")[-2_000:]
                raise PostgresNotAvailable(f"initdb failed:\n{tail}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        if self.running:
            return
        if not (self.data / "PG_VERSION").exists():
            self.init()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
        }
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._process = self._popen(command, log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if _accepts(self.port):
                return
            time.sleep(0.05)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2_000:]
        raise PostgresNotAvailable(f"postgres on port {self.port} did not start:\n{tail}")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend (its process group), a crash."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        # Backends notice the dead postmaster on their own; wait until none is left so
        # that a restart does not find the old shared memory in use.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), killing it if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process = process
            self.kill()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PostgresServer {self.url} {state}>"


class PostgresHarness:
    """Starts servers on first use and stops every one of them in ``stop_all``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._root: Path | None = None
        self._shared: PostgresServer | None = None
        self._owned: list[PostgresServer] = []
        self._failure: str | None = None

    def _folder(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="puregram-postgres-"))
            # The server's user must be able to reach its own folder inside.
            os.chmod(self._root, 0o755)
            atexit.register(self.stop_all)
        return self._root

    def new_server(self, *, durable: bool = True) -> PostgresServer:
        """Start a dedicated server on a free port of the range; ``stop_all`` stops it."""
        bin_dir = find_postgres_bin()
        with self._lock:
            root = self._folder()
        last: Exception | None = None
        for _ in range(3):  # another process may take the port between probe and bind
            port = free_port({server.port for server in self._owned})
            server = PostgresServer(bin_dir, port, root / f"server-{port}", durable=durable)
            with self._lock:
                self._owned.append(server)
            try:
                server.start()
            except PostgresNotAvailable as exc:
                last = exc
                continue
            return server
        assert last is not None
        raise last

    def server(self) -> PostgresServer:
        """The shared fast server, started on first call (a failure is remembered)."""
        with self._lock:
            if self._failure is not None:
                raise PostgresNotAvailable(self._failure)
            if self._shared is None or not self._shared.running:
                try:
                    if self._shared is not None:
                        self._shared.start()
                    else:
                        self._shared = self.new_server(durable=False)
                except PostgresNotAvailable as exc:
                    self._failure = str(exc)
                    raise
            return self._shared

    def url(self) -> str:
        """``PUREGRAM_POSTGRES_URL`` when set, else the shared server's DSN."""
        return os.environ.get("PUREGRAM_POSTGRES_URL") or self.server().url

    def release(self, server: PostgresServer) -> None:
        server.stop()
        with self._lock:
            if server in self._owned:
                self._owned.remove(server)
        shutil.rmtree(server.folder, ignore_errors=True)

    def stop_all(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
            self._shared = None
            for server in owned:
                server.stop()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None


HARNESS = PostgresHarness()


REQUIRE_ENV = "PUREGRAM_REQUIRE_POSTGRES"


def skip_without_server(exc: Exception) -> NoReturn:
    """Skip the current test (fail it under ``PUREGRAM_REQUIRE_POSTGRES=1``, which
    ``.ci/run`` sets, so CI never passes by skipping) because there is no server."""
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE_ENV} is set, but {skip_line(exc)}", pytrace=False)
    pytest.skip(skip_line(exc))


def skip_line(exc: Exception) -> str:
    """The one line a skipped test reports: how to get a server (and, for a server that
    failed to start, the first line of why)."""
    text = str(exc)
    if text.startswith("no PostgreSQL server") or HOW_TO_GET_ONE in text:
        return text.splitlines()[0]
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{first}; {HOW_TO_GET_ONE}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    HARNESS.stop_all()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """DSN of a PostgreSQL server shared by the session: ``PUREGRAM_POSTGRES_URL`` when
    set, else one the harness starts; skips (one line) when there is none."""
    try:
        return HARNESS.url()
    except PostgresNotAvailable as exc:
        skip_without_server(exc)


@pytest.fixture
def postgres_server_factory() -> Iterator[Callable[[], PostgresServer]]:
    """``factory()`` starts a dedicated durable server this test may kill and restart;
    all are stopped after the test. Skips when no server binary can be run."""
    started: list[PostgresServer] = []

    def factory() -> PostgresServer:
        try:
            server = HARNESS.new_server(durable=True)
        except PostgresNotAvailable as exc:
            skip_without_server(exc)
        started.append(server)
        return server

    yield factory
    for server in started:
        HARNESS.release(server)
