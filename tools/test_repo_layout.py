"""The repository keeps the promises of its root README and of docs/design.md."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Try it.*?```sh\n(.*?)```", text, re.DOTALL)
    assert block, "the root README has no 'Try it' block of commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _readme_commands()[-1]
    assert test_command == "hatch test"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(test_command)}$", ci, re.MULTILINE)


def test_the_readme_demo_command_is_a_hatch_script() -> None:
    demo_command = _readme_commands()[0].split("&&")[-1].strip()
    assert demo_command == "hatch run demo"
    assert re.search(r'^demo = "python tools/demo.py', (ROOT / "hatch.toml").read_text(), re.M)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_package_has_its_own_docs_and_marker(folder: Path) -> None:
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE"):
        assert (folder / name).is_file(), f"{folder.name} has no {name}"
    assert (folder / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes(), (
        f"{folder.name}/LICENSE is not a copy of the root LICENSE"
    )
    assert not (folder / "src" / "puregram" / "__init__.py").exists()
    (sub,) = (folder / "src" / "puregram").iterdir()
    assert (sub / "py.typed").is_file()
    assert (sub / "__about__.py").is_file()
