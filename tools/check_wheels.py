"""Build every package's wheel and sdist and prove the packaging rules of docs/design.md.

For each folder under ``packages/`` it builds a wheel and an sdist from that folder alone
and checks: the wheel holds only ``puregram/<sub>/...`` and its ``.dist-info``; there is
no ``puregram/__init__.py``; ``py.typed`` is shipped; the version matches ``__about__.py``;
the MIT ``LICENSE`` (the root one, copied into the folder) is in the wheel's
``.dist-info/licenses/`` and in the sdist; the metadata carries the project URLs; the
sdist ships no tests or benchmarks (they import the repository's ``tools/``, which an
sdist cannot carry); the README (the PyPI page) has no relative links; and no two wheels
ship the same path, so uninstalling one never deletes another's files.

Run: ``python tools/check_wheels.py`` (exit 1 and a list of problems on failure).
"""

from __future__ import annotations

import email
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
LICENSE = ROOT / "LICENSE"
PROJECT_URLS = ("Homepage", "Documentation", "Source", "Changelog", "Issues")
# A Markdown link or image whose target is neither absolute nor an anchor on the page.
RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")


@dataclass(frozen=True)
class Wheel:
    folder: Path
    path: Path
    files: frozenset[str]
    metadata: str = ""
    licenses: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Sdist:
    folder: Path
    path: Path
    files: frozenset[str]
    """Paths inside the archive, without its ``name-version/`` top folder."""
    license: bytes | None = None


def build(folder: Path, out: Path) -> Wheel:
    """Build ``folder``'s wheel into ``out`` with hatchling, from that folder alone."""
    target = out / folder.name
    _hatchling(folder, "wheel", target)
    (path,) = target.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        files = frozenset(archive.namelist())
        (metadata,) = (name for name in files if name.endswith(".dist-info/METADATA"))
        licenses = tuple(
            (name, archive.read(name)) for name in sorted(files) if ".dist-info/licenses/" in name
        )
        text = archive.read(metadata).decode()
    return Wheel(folder, path, files, text, licenses)


def build_sdist(folder: Path, out: Path) -> Sdist:
    """Build ``folder``'s sdist into ``out`` with hatchling, from that folder alone."""
    target = out / f"{folder.name}-sdist"
    _hatchling(folder, "sdist", target)
    (path,) = target.glob("*.tar.gz")
    with tarfile.open(path) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        files = frozenset(m.name.split("/", 1)[1] for m in members)
        license_bytes = None
        for member in members:
            if member.name.split("/", 1)[1] == "LICENSE":
                handle = archive.extractfile(member)
                license_bytes = handle.read() if handle else None
    return Sdist(folder, path, files, license_bytes)


def _hatchling(folder: Path, target: str, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
        cwd=folder,
        check=True,
        capture_output=True,
    )


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
    found += license_problems(name, "wheel", [body for _, body in wheel.licenses])
    if wheel.metadata:
        found += metadata_problems(name, wheel.metadata)
    return found


def license_problems(name: str, kind: str, bodies: list[bytes]) -> list[str]:
    """The root LICENSE must ship, byte for byte, exactly once."""
    if not bodies:
        return [f"{name}: the {kind} ships no LICENSE"]
    if bodies != [LICENSE.read_bytes()]:
        return [f"{name}: the {kind}'s LICENSE is not the repository's LICENSE"]
    return []


def metadata_problems(name: str, metadata: str) -> list[str]:
    """The PyPI page: license fields, every project URL, no relative link in the README."""
    message = email.message_from_string(metadata)
    found = []
    if message.get("License-Expression") != "MIT":
        found.append(f"{name}: metadata has no License-Expression: MIT")
    urls = {value.split(",", 1)[0].strip() for value in message.get_all("Project-URL") or []}
    for label in PROJECT_URLS:
        if label not in urls:
            found.append(f"{name}: metadata has no Project-URL {label}")
    readme = _prose(str(message.get_payload()))
    for target in RELATIVE_LINK.findall(readme):
        found.append(f"{name}: README links to {target!r}, which breaks on PyPI (use a URL)")
    return found


def _prose(markdown: str) -> str:
    """Markdown without fenced blocks and inline code, where ``x[0](y)`` is not a link."""
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", markdown)


def sdist_problems(sdist: Sdist) -> list[str]:
    """An sdist carries its source, README, CHANGELOG and LICENSE, and no tests that
    cannot run outside the repository."""
    name = sdist.folder.name
    found = license_problems(name, "sdist", [sdist.license] if sdist.license else [])
    for file in sorted(sdist.files):
        if file.split("/", 1)[0] in {"tests", "benchmarks", "tools"}:
            found.append(f"{name}: the sdist ships {file}, which needs the repository's tools/")
    for required in ("pyproject.toml", "README.md", "CHANGELOG.md", "PKG-INFO"):
        if required not in sdist.files:
            found.append(f"{name}: the sdist lacks {required}")
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


def package_folders() -> list[Path]:
    return [folder for folder in sorted(PACKAGES.iterdir()) if (folder / "pyproject.toml").exists()]


def check(out: Path) -> list[str]:
    folders = package_folders()
    wheels = [build(folder, out) for folder in folders]
    found = [problem for wheel in wheels for problem in problems_of(wheel)]
    found += [problem for folder in folders for problem in sdist_problems(build_sdist(folder, out))]
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
