"""The README's demo on Redis (tools/test_demo.py covers SQLite and memory)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import redis

from tools.demo import main

DEMO_PREFIX = "puregram-demo:"  # fixed by the demo; only this test uses it


def run_demo(*argv: str) -> str:
    out = io.StringIO()
    main(list(argv), out=out)
    return out.getvalue()


def clear_demo_keys(url: str) -> None:
    client: Any = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{DEMO_PREFIX}*"))
        if names:
            client.delete(*names)
    finally:
        client.close()


def test_the_demo_runs_on_redis_and_continues(redis_url: str) -> None:
    clear_demo_keys(redis_url)  # a CI server (PUREGRAM_REDIS_URL) may outlive a run
    try:
        argv = ("--storage", "redis", "--redis-url", redis_url, "--users", "20", "--updates", "3")
        first = run_demo(*argv)
        assert "60 updates in" in first
        assert "sessions stored: 20\n" in first
        match = re.search(r"record of user 1 as stored: (.*)$", first, re.MULTILINE)
        assert match, first
        record = json.loads(match.group(1))
        assert record["counter"] == 3
        assert set(record["__ttl"]) == {"last_text"}

        second = run_demo(*argv)
        assert "sessions stored: 20\n" in second
        assert '"counter": 6' in second, "a second run continues the counters"
    finally:
        clear_demo_keys(redis_url)
