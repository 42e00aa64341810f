from pathlib import Path

import pytest

from tools.readme_examples import Example, collect, run

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = collect(README)


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_readme_example_runs(example: Example, tmp_path: Path, child_env: dict[str, str]) -> None:
    run(example, cwd=tmp_path, env=child_env)
