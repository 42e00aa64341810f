"""Every ```python block of the README runs against the harness's server and cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.readme_examples import Example, collect, run

README = Path(__file__).resolve().parents[1] / "README.md"
SRC = README.parent / "src"
EXAMPLES = collect(README)


def test_readme_has_the_promised_examples() -> None:
    codes = [example.code for example in EXAMPLES]
    assert len(codes) >= 5
    assert any("ttl_ms=" in code for code in codes)
    assert any("RedisCluster" in code for code in codes)


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_readme_example_runs(
    example: Example, tmp_path: Path, redis_url: str, request: pytest.FixtureRequest
) -> None:
    # src/ first: `hatch test` from this folder imports the package from there.
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {"REDIS_URL": redis_url, "PYTHONPATH": pythonpath}
    if "REDIS_CLUSTER_URL" in example.code:
        env["REDIS_CLUSTER_URL"] = str(request.getfixturevalue("redis_cluster_url"))
    run(example, cwd=tmp_path, env=env)
