from pathlib import Path

import pytest

from tools import readme_examples

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("example", readme_examples.collect(README), ids=str)
def test_readme_example_runs(example: readme_examples.Example, tmp_path: Path) -> None:
    readme_examples.run(example, cwd=tmp_path)
