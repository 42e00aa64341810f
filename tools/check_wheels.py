"""Build every package's wheel and prove the namespace rules of DESIGN.md.

For each folder under ``packages/`` it builds a wheel from that folder alone and checks:
the wheel holds only ``puregram/<sub>/...`` and its ``.dist-info``; there is no
``puregram/__init__.py``; ``py.typed`` is shipped; the version matches ``__about__.py``;
and no two wheels ship the same path, so uninstalling one never deletes another's files.

Run: ``python tools/check_wheels.py`` (exit 1 and a list of problems on failure).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"


@dataclass(frozen=True)
class Wheel:
    folder: Path
    path: Path
    files: frozenset[str]


def build(folder: Path, out: Path) -> Wheel:
    """Build ``folder``'s wheel into ``out`` with hatchling, from that folder alone."""
    target = out / folder.name
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(target)],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    (path,) = target.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        files = frozenset(archive.namelist())
    return Wheel(folder, path, files)


def problems_of(wheel: Wheel) -> list[str]:
    """What is wrong with one wheel, as sentences naming the package."""
    name = wheel.folder.name
    subs = list((wheel.folder / "src" / "puregram").iterdir())
    if len(subs) != 1 or not subs[0].is_dir():
        return [f"{name}: src/puregram/ must hold exactly one sub-package, found {subs}"]
    sub = subs[0].name
    found: list[str] = []
    for file in sorted(wheel.files):
        if not (file.startswith(f"puregram/{sub}/") or re.match(r"[^/]+\.dist-info/", file)):
            found.append(f"{name}: ships {file}, outside puregram/{sub}/")
    if "puregram/__init__.py" in wheel.files:
        found.append(f"{name}: ships puregram/__init__.py, which breaks the namespace")
    if f"puregram/{sub}/py.typed" not in wheel.files:
        found.append(f"{name}: does not ship puregram/{sub}/py.typed")
    about = (wheel.folder / "src" / "puregram" / sub / "__about__.py").read_text()
    version = re.search(r'__version__ = "([^"]+)"', about)
    if version is None or f"-{version.group(1)}-" not in wheel.path.name:
        found.append(f"{name}: wheel {wheel.path.name} does not carry __about__'s version")
    return found


def overlaps(wheels: list[Wheel]) -> list[str]:
    """Paths (outside .dist-info) that two wheels both ship."""
    owner: dict[str, str] = {}
    found = []
    for wheel in wheels:
        for file in wheel.files:
            if ".dist-info/" in file:
                continue
            if file in owner:
                found.append(f"{file} is shipped by both {owner[file]} and {wheel.folder.name}")
            owner[file] = wheel.folder.name
    return found


def check(out: Path) -> list[str]:
    wheels = [build(folder, out) for folder in sorted(PACKAGES.iterdir()) if folder.is_dir()]
    found = [problem for wheel in wheels for problem in problems_of(wheel)]
    return found + overlaps(wheels)


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        found = check(Path(out))
    for problem in found:
        print(problem)
    print("wheels ok" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
