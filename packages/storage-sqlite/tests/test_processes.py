"""Several processes on one file, and a writer killed mid-stream (real processes, real
files, no fakes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tools.children import release_together

CHILD = str(Path(__file__).with_name("_child.py"))
WORKERS = 4
KEYS = 500


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_processes_lose_no_write_and_never_see_locked(
    tmp_path: Path, driver: ModuleType
) -> None:
    """Four processes (two on asyncio, two on trio) start together on a fresh file with
    SqliteStorage.open's settings; each writes 500 keys and 500 hits on one counter."""
    path = str(tmp_path / "shared.db")
    children = [
        spawn(
            "write", path, driver.__name__, str(worker), str(KEYS), ("asyncio", "trio")[worker % 2]
        )
        for worker in range(WORKERS)
    ]
    try:
        release_together(children)
        results = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    for child, (_, stderr) in zip(children, results, strict=True):
        assert "database is locked" not in stderr
        assert child.returncode == 0, stderr
    db = driver.connect(path)
    rows = dict(db.execute("SELECT key, value FROM puregram_kv").fetchall())
    db.close()
    counter = json.loads(rows.pop("shared"))
    assert counter["hits"] == WORKERS * KEYS, "count_hit lost or doubled a hit"
    expected = {
        f"w{worker}:{index}": {"worker": str(worker), "index": index}
        for worker in range(WORKERS)
        for index in range(KEYS)
    }
    assert {key: json.loads(value) for key, value in rows.items()} == expected


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
@pytest.mark.parametrize("settings", ["connect", "plain"])
def test_every_acknowledged_write_survives_sigkill(
    tmp_path: Path, driver: ModuleType, settings: str
) -> None:
    """The child prints each key after its set() returned; it is killed with SIGKILL
    while writing. Every printed key must be in the file when it is opened again.
    "plain" is driver.connect(path) with implicit transactions and a rollback journal:
    without the store's commit, its writes would die with the process."""
    path = str(tmp_path / "killed.db")
    child = spawn("stream", path, driver.__name__, settings)
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        while len(acknowledged) < 200:
            line = child.stdout.readline()
            assert line, f"the writer died early: {child.stderr and child.stderr.read()}"
            acknowledged.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
        # Keys printed before the kill are still in the pipe, or already in the text
        # reader's buffer, which communicate() would skip: read through the same reader.
        rest = child.stdout.read()
        child.communicate(timeout=30)  # reaps the child and closes its pipes
    finally:
        child.kill()
        child.wait()
    acknowledged += rest.split("\n")[:-1]  # a line cut by the kill has no newline
    assert child.returncode == -signal.SIGKILL
    db = driver.connect(path)
    stored = dict(db.execute("SELECT key, value FROM puregram_kv").fetchall())
    db.close()
    missing = [key for key in acknowledged if key not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost, first: {missing[:5]}"
    for key in acknowledged:
        assert json.loads(stored[key])["index"] == int(key[1:])
