"""Every ```python block of the README is a program that runs and checks itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import readme_examples

PACKAGE = Path(__file__).resolve().parents[1]
README = PACKAGE / "README.md"
# The examples run in a new interpreter: give it this package's source, so that they
# also work where the package is not installed (`hatch test` from this folder).
_PATHS = [str(PACKAGE / "src"), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
ENV = {"PYTHONPATH": os.pathsep.join(path for path in _PATHS if path)}
EXAMPLES = readme_examples.collect(README)


def test_the_readme_has_the_examples_it_promises() -> None:
    # install/counter, three ttl scenarios, two typing examples, no-session, handled=,
    # bad value, two middlewares sharing one store's lease; storage keys, lazy sessions,
    # sessions outside an update, the Python half of sharing a store with Node.js
    assert len(EXAMPLES) == 14


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(example: readme_examples.Example, tmp_path: Path) -> None:
    readme_examples.run(example, cwd=tmp_path, env=ENV)
