"""Every ```python block of the README is a program that runs and checks itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import readme_examples

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = readme_examples.collect(README)


def test_the_readme_has_the_examples_it_promises() -> None:
    # install/counter, three ttl scenarios, two typing examples, no-session, bad value
    assert len(EXAMPLES) == 8


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(example: readme_examples.Example, tmp_path: Path) -> None:
    readme_examples.run(example, cwd=tmp_path)
