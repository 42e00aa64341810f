"""Every ```python block of the README is a program that runs and checks itself."""

import sys
from pathlib import Path

import pytest

from tools.readme_examples import Example, collect, run

README = Path(__file__).resolve().parents[1] / "README.md"
SRC = Path(__file__).resolve().parents[1] / "src"
EXAMPLES = collect(README)


def test_the_readme_has_its_examples() -> None:
    # first store, guards, MemoryStorage, LRU, migrations, expiry, adapter, ttl adapter,
    # iterators, namespaced, leases, options, conformance without pytest
    assert len(EXAMPLES) == 13


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_readme_example_runs(example: Example, tmp_path: Path) -> None:
    run(example, cwd=tmp_path)


def test_readme_examples_type_check(tmp_path: Path) -> None:
    """The examples teach typed code, so they pass ``mypy --strict`` as written."""
    api = pytest.importorskip("mypy.api")
    files = []
    for index, example in enumerate(EXAMPLES):
        path = tmp_path / f"example_{index:02d}.py"
        path.write_text(example.code, encoding="utf-8")
        files.append(str(path))
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--no-incremental",
            "--config-file=",
            f"--python-executable={sys.executable}",
            *files,
        ]
    )
    assert status == 0, stdout + stderr
