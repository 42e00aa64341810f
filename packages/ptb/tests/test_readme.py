"""Every ```python block of the README is a program that runs and checks itself; the
```py fragments (a bot that needs a token and the network) at least compile."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tools import readme_examples

PACKAGE = Path(__file__).resolve().parents[1]
README = PACKAGE / "README.md"
_PATHS = [str(PACKAGE / "src"), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
ENV = {"PYTHONPATH": os.pathsep.join(path for path in _PATHS if path)}
EXAMPLES = readme_examples.collect(README)
FRAGMENTS = re.findall(r"^```py\n(.*?)^```$", README.read_text("utf-8"), re.M | re.S)


def test_the_readme_has_its_examples() -> None:
    assert len(EXAMPLES) == 1  # the stored layout
    assert len(FRAGMENTS) == 2  # the complete bot, the rate-limit handler


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(example: readme_examples.Example, tmp_path: Path) -> None:
    readme_examples.run(example, cwd=tmp_path, env=ENV)


def test_the_complete_bot_compiles_and_names_real_api() -> None:
    import puregram.ptb

    bot = FRAGMENTS[0]
    compile(bot, "README.md", "exec")
    for name in ("PersistEveryUpdate", "RateLimitHandler", "StoragePersistence"):
        assert name in bot
        assert hasattr(puregram.ptb, name)
