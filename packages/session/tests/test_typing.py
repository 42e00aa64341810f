"""The typing story holds under ``mypy --strict``: the README's typed examples pass, and
the mistakes they promise to catch are caught."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tools import readme_examples

mypy_api = pytest.importorskip("mypy.api")

PACKAGE = Path(__file__).resolve().parents[1]
SOURCES = [PACKAGE / "src", PACKAGE.parent / "storage-core" / "src"]
TYPED = [e for e in readme_examples.collect(PACKAGE / "README.md") if "SessionLayer" in e.code]

MISTAKES = textwrap.dedent(
    """
    from typing import Protocol, TypedDict

    from puregram.session import Session, SessionLayer, ttl


    class SessionData(Protocol):
        counter: int


    class Update:
        def __init__(self, sender_id: int) -> None:
            self.sender_id = sender_id


    class MyContext(Update, SessionLayer[SessionData]):
        pass


    class Cart(TypedDict):
        items: list[str]


    def typo(context: MyContext) -> None:
        context.session.countr += 1  # E: typo


    def wrong_type(context: MyContext) -> None:
        context.session.counter = "many"  # E: wrong type


    def wrong_ttl(context: MyContext) -> None:
        context.session.counter = ttl("many", 5_000)  # E: wrong ttl type


    def wrong_key(context: SessionLayer[Cart]) -> None:
        context.session["itemz"] = []  # E: TypedDict key


    def untyped_is_any(context: SessionLayer[Session]) -> int:
        return context.session.anything + context.session["anything"]  # type: ignore[no-any-return]
    """
)


def run_mypy(tmp_path: Path, files: dict[str, str]) -> str:
    config = tmp_path / "mypy.ini"
    mypy_path = ":".join(str(path) for path in SOURCES)
    config.write_text(f"[mypy]\nstrict = True\nmypy_path = {mypy_path}\n", encoding="utf-8")
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    stdout, stderr, _ = mypy_api.run(
        [
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--no-error-summary",
            "--hide-error-context",
            *(str(tmp_path / name) for name in files),
        ]
    )
    return f"{stdout}{stderr}"


def test_readme_typing_examples_pass_and_mistakes_are_caught(tmp_path: Path) -> None:
    assert len(TYPED) == 2
    files = {f"readme_example_{i}.py": example.code for i, example in enumerate(TYPED)}
    files["mistakes.py"] = MISTAKES
    output = run_mypy(tmp_path, files)

    assert "readme_example" not in output, output
    expected = {i + 1 for i, line in enumerate(MISTAKES.splitlines()) if "# E:" in line}
    flagged = {int(match.group(1)) for match in re.finditer(r"mistakes\.py:(\d+): error", output)}
    assert flagged == expected, output
    assert 'has no attribute "countr"' in output
    assert '"itemz"' in output
