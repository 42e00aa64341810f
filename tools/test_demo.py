"""The README's first command: the demo runs, reports, and continues on a second run."""

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tools.demo import main


def _run(*argv: str) -> str:
    out = io.StringIO()
    assert main(list(argv), out=out) == 0
    return out.getvalue()


def _record(report: str) -> dict[str, Any]:
    match = re.search(r"record of user 1 as stored: (.*)$", report, re.MULTILINE)
    assert match, report
    record: dict[str, Any] = json.loads(match.group(1))
    return record


def test_sqlite_demo_counts_every_update_and_continues(tmp_path: Path) -> None:
    db = str(tmp_path / "bot.db")
    first = _run("--db", db, "--users", "30", "--updates", "5")
    assert f"data: SQLite file {db}\n" in first
    assert "a fresh run: no earlier sessions found\n" in first
    assert "150 updates in" in first
    assert "sessions stored: 30\n" in first
    record = _record(first)
    assert record["counter"] == 5
    assert record["last_text"] in {f"message {n} from user 1" for n in range(5)}
    assert set(record["__ttl"]) == {"last_text"}

    second = _run("--db", db, "--users", "30", "--updates", "5")
    assert "continuing an earlier run: 30 of 30 users have a session\n" in second
    assert _record(second)["counter"] == 10


def test_unreachable_redis_is_one_line_and_status_1() -> None:
    """Nothing listens on the port (the test's own range): one line, no traceback."""
    out, err = io.StringIO(), io.StringIO()
    url = "redis://127.0.0.1:46999/0"
    assert main(["--storage", "redis", "--redis-url", url], out=out, err=err) == 1
    assert out.getvalue() == ""
    (line,) = err.getvalue().splitlines()
    assert line.startswith(f"demo: cannot reach Redis at {url} (")
    assert line.endswith("start a server there, pass --redis-url, or run with --storage sqlite")


def test_memory_demo(tmp_path: Path) -> None:
    report = _run("--storage", "memory", "--users", "10", "--updates", "3")
    assert "data: in memory (gone when the demo exits)\n" in report
    assert "sessions stored: 10\n" in report
    assert _record(report)["counter"] == 3


@pytest.mark.parametrize("bad", [["--users", "0"], ["--storage", "mongo"]])
def test_bad_options_are_refused(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(*bad)
    assert exc.value.code == 2


def test_a_group_of_lost_connections_is_recognised_and_other_errors_are_not() -> None:
    from tools.demo import _connection_errors

    group = RuntimeError("group")
    group.exceptions = (ConnectionResetError("reset"), OSError("gone"))  # type: ignore[attr-defined]
    assert [str(leaf) for leaf in _connection_errors(group)] == ["gone", "reset"]
    mixed = RuntimeError("group")
    mixed.exceptions = (ConnectionResetError("reset"), KeyError("bug"))  # type: ignore[attr-defined]
    assert _connection_errors(mixed) == []
