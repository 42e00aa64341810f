"""Run the examples in a README, so that the docs cannot drift from the code.

Every fenced block opened with ```` ```python ```` is a complete program: a test runs it
in a fresh interpreter (in a temporary folder, so files it makes land there) and fails
on a non-zero exit. Examples check themselves with ``assert``. A fragment that is not a
program is fenced ```` ```py ```` and is only shown.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    readme: Path
    line: int
    code: str

    def __str__(self) -> str:
        return f"{self.readme.parent.name}/{self.readme.name}:{self.line}"


def collect(readme: Path) -> list[Example]:
    """The runnable examples of ``readme``, in order, each with its line number."""
    text = readme.read_text(encoding="utf-8")
    return [
        Example(readme, text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in _FENCE.finditer(text)
    ]


def run(example: Example, *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``example`` in a new interpreter in ``cwd``; return its output, or raise
    ``AssertionError`` with the output when it fails."""
    result = subprocess.run(
        [sys.executable, "-c", example.code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"example {example} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result.stdout
