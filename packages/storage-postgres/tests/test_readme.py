import os
from pathlib import Path

import pytest

from tools import readme_examples

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("example", readme_examples.collect(README), ids=str)
def test_readme_example_runs(
    example: readme_examples.Example, tmp_path: Path, postgres_url: str
) -> None:
    env = {**os.environ, "PUREGRAM_POSTGRES_URL": postgres_url}
    readme_examples.run(example, cwd=tmp_path, env=env)
