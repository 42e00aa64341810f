"""Start test child processes at the same instant, for races between processes.

The protocol both sides follow: a child prints ``ready`` once it is set up, then waits
for a line ``go`` on its standard input before it starts its work.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def release_together(children: Sequence[subprocess.Popen[str]]) -> None:
    """Wait until every child said ``ready``, then send ``go`` to all of them at once.
    Fails with the child's error output when one dies before it is ready."""
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n", child.stderr and child.stderr.read()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
