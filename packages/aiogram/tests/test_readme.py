"""The README's examples run: every ```python block as a program, and the complete bot
(the ```py block that starts ``# bot.py``) against a recording session, no network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import readme_examples

PACKAGE = Path(__file__).resolve().parents[1]
README = PACKAGE / "README.md"
_PATHS = [str(PACKAGE / "src"), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
ENV = {"PYTHONPATH": os.pathsep.join(path for path in _PATHS if path)}
EXAMPLES = readme_examples.collect(README)

DRIVER = """
import asyncio, json, runpy, sys
from puregram.aiogram.testing import make_bot, message_update

bot_module = runpy.run_path("bot.py", run_name="bot")  # not __main__: no polling
dp = bot_module["dp"]

async def main() -> None:
    bot = make_bot()
    for text in sys.argv[1:]:
        await dp.feed_update(bot, message_update(user_id=7, text=text))
    await dp.fsm.close()  # what aiogram does at shutdown: closes the store
    print(json.dumps(bot.session.texts()))

asyncio.run(main())
"""


def test_the_readme_has_the_examples_it_promises() -> None:
    assert len(EXAMPLES) == 2  # FsmStorage over SQLite, testing a bot


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(example: readme_examples.Example, tmp_path: Path) -> None:
    readme_examples.run(example, cwd=tmp_path, env=ENV)


def bot_source() -> str:
    match = re.search(r"^```py\n(# bot\.py\n.*?)^```$", README.read_text(), re.S | re.M)
    assert match is not None, "the README's complete bot is gone"
    return match.group(1)


def run_bot(folder: Path, *texts: str) -> list[str]:
    import json

    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *texts],
        cwd=folder,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_the_complete_bot_runs(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(bot_source())
    assert run_bot(tmp_path, "/start", "/signup", "Ann", "/signup") == [
        "Hello! Visit number 1. /signup to sign up.",
        "Your name?",
        "Your age?",
        "Slow down: try again in 60s.",  # /signup: 1 a minute; the state stays "age"
    ]
    # A restart: a new process on the same bot.db carries the flow and the session on.
    assert run_bot(tmp_path, "30", "/start") == [
        "Welcome, Ann (30)!",
        "Hello! Visit number 2. /signup to sign up.",
    ]
    import sqlite3

    db = sqlite3.connect(tmp_path / "bot.db")
    rows = dict(db.execute("SELECT key, value FROM puregram_kv").fetchall())
    db.close()
    assert rows["7"] == '{"starts":2,"name":"Ann"}'
    assert "fsm:7:7:state" not in rows
    assert set(rows) == {"7", "default:7", "bot.signup:7"}
