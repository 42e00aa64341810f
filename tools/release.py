"""Release one package: bump its version, date its changelog, check the siblings, tag.

    python tools/release.py storage-redis 0.1.1 --dry-run   # print what it would change
    python tools/release.py storage-redis 0.1.1             # change, commit and tag
    git push origin HEAD puregram-storage-redis-v0.1.1      # .github/workflows/release.yml

PACKAGE is a folder under ``packages/`` or its distribution name. The release:

1. writes VERSION into the package's version file (``[tool.hatch.version] path``);
2. turns the CHANGELOG's ``## Unreleased`` section into ``## VERSION (YYYY-MM-DD)``
   and opens a new, empty ``## Unreleased`` above it;
3. checks that every package's dependency range on a sibling admits that sibling's
   version (the new one for PACKAGE, the current one for the others), so that no
   release makes the set uninstallable together;
4. commits the two files and tags ``<distribution>-v<VERSION>`` (annotated).

It refuses, changing nothing, when VERSION is not above the current version, the
Unreleased section is missing or empty, the tag exists, a range would not admit a
version, or (unless ``--dry-run``) the work tree has uncommitted changes. It never
pushes. ``--check-tag TAG`` is for the release workflow: it prints ``folder=``,
``distribution=`` and ``version=`` lines for TAG, after checking that the tagged tree
holds that version.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# tomllib from 3.11; on 3.10 hatchling's own dependency tomli, the same API.
tomllib: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

try:
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover - hatch's environments all have it
    sys.exit("tools/release.py needs the packaging module: hatch run python tools/release.py ...")

__all__ = ["Package", "ReleaseError", "load_packages", "main", "plan"]

ROOT = Path(__file__).resolve().parent.parent
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
UNRELEASED = re.compile(r"^## Unreleased[ \t]*\n", re.MULTILINE)
NEXT_HEADING = re.compile(r"^## ", re.MULTILINE)


class ReleaseError(Exception):
    """The release cannot go ahead; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class Package:
    folder: Path
    distribution: str
    version_file: Path
    version: Version
    requirements: tuple[Requirement, ...]

    @property
    def changelog(self) -> Path:
        return self.folder / "CHANGELOG.md"

    def tag(self, version: Version) -> str:
        return f"{self.distribution}-v{version}"


def load_packages(root: Path) -> dict[str, Package]:
    """Every package under ``root/packages``, by folder name."""
    found: dict[str, Package] = {}
    for folder in sorted((root / "packages").iterdir()):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        version_file = folder / data["tool"]["hatch"]["version"]["path"]
        match = VERSION_LINE.search(version_file.read_text(encoding="utf-8"))
        if match is None:
            raise ReleaseError(f'{version_file}: no line __version__ = "..."')
        requirements = tuple(Requirement(text) for text in data["project"].get("dependencies", []))
        found[folder.name] = Package(
            folder, data["project"]["name"], version_file, Version(match.group(1)), requirements
        )
    return found


def _find(packages: dict[str, Package], name: str) -> Package:
    if name in packages:
        return packages[name]
    for package in packages.values():
        if package.distribution == name:
            return package
    known = ", ".join(f"{folder} ({p.distribution})" for folder, p in packages.items())
    raise ReleaseError(f"no package {name!r}; the packages are: {known}")


def range_problems(packages: dict[str, Package], versions: dict[str, Version]) -> list[str]:
    """Every dependency on a sibling whose range does not admit the sibling's version
    (``versions``: by distribution name)."""
    found = []
    for package in packages.values():
        for requirement in package.requirements:
            version = versions.get(requirement.name)
            if version is not None and not requirement.specifier.contains(
                version, prereleases=True
            ):
                found.append(
                    f"packages/{package.folder.name} requires {requirement}, which does not "
                    f"admit {requirement.name} {version}: widen that range first (its own "
                    f"release)"
                )
    return found


@dataclass(frozen=True)
class Change:
    path: Path
    before: str
    after: str

    def diff(self, root: Path) -> str:
        name = str(self.path.relative_to(root))
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
        return "".join(lines)


@dataclass(frozen=True)
class Plan:
    package: Package
    version: Version
    changes: tuple[Change, ...]

    @property
    def tag(self) -> str:
        return self.package.tag(self.version)

    @property
    def message(self) -> str:
        return f"{self.package.distribution} {self.version}"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def plan(root: Path, name: str, version_text: str, *, today: datetime.date) -> Plan:
    """What the release would change, after every check; raises ``ReleaseError``."""
    packages = load_packages(root)
    package = _find(packages, name)
    try:
        version = Version(version_text)
    except InvalidVersion:
        raise ReleaseError(f"VERSION {version_text!r} is not a version (say 0.1.1)") from None
    if str(version) != version_text:
        raise ReleaseError(f"VERSION {version_text!r}: write it as {version}")
    if version <= package.version:
        raise ReleaseError(
            f"{package.distribution} is at {package.version}: VERSION must be above it, "
            f"not {version}"
        )
    if _git(root, "tag", "--list", package.tag(version)).strip():
        raise ReleaseError(f"the tag {package.tag(version)} exists already")

    versions = {p.distribution: p.version for p in packages.values()}
    versions[package.distribution] = version
    problems = range_problems(packages, versions)
    if problems:
        raise ReleaseError("\n".join(problems))

    about = package.version_file.read_text(encoding="utf-8")
    new_about = VERSION_LINE.sub(f'__version__ = "{version}"', about, count=1)

    changelog = package.changelog.read_text(encoding="utf-8")
    heading = UNRELEASED.search(changelog)
    if heading is None:
        raise ReleaseError(f"{package.changelog.relative_to(root)} has no '## Unreleased' section")
    following = NEXT_HEADING.search(changelog, heading.end())
    body = changelog[heading.end() : following.start() if following else len(changelog)]
    if not body.strip():
        raise ReleaseError(
            f"{package.changelog.relative_to(root)}: the Unreleased section is empty; say "
            f"what changed for a user first"
        )
    new_changelog = (
        changelog[: heading.start()]
        + f"## Unreleased\n\n## {version} ({today.isoformat()})\n"
        + changelog[heading.end() :]
    )
    changes = (
        Change(package.version_file, about, new_about),
        Change(package.changelog, changelog, new_changelog),
    )
    return Plan(package, version, changes)


def apply(root: Path, release: Plan) -> None:
    """Write, commit and tag; the caller checked that the tree was clean."""
    for change in release.changes:
        change.path.write_text(change.after, encoding="utf-8")
    _git(root, "add", "--", *(str(change.path.relative_to(root)) for change in release.changes))
    _git(root, "commit", "--quiet", "-m", release.message)
    _git(root, "tag", "-a", release.tag, "-m", release.message)


def check_tag(root: Path, tag: str) -> list[str]:
    """``folder=``, ``distribution=``, ``version=`` for a release tag, after checking
    that the tree holds that version (for the release workflow's GITHUB_OUTPUT)."""
    packages = load_packages(root)
    for package in packages.values():
        prefix = f"{package.distribution}-v"
        if tag.startswith(prefix) and not tag[len(prefix) :].startswith("v"):
            wanted = tag[len(prefix) :]
            if str(package.version) != wanted:
                raise ReleaseError(
                    f"tag {tag} says {wanted}, but {package.version_file.relative_to(root)} "
                    f"says {package.version}"
                )
            return [
                f"folder={package.folder.name}",
                f"distribution={package.distribution}",
                f"version={package.version}",
            ]
    raise ReleaseError(f"tag {tag!r} names no package (<distribution>-v<version>)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/release.py", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("package", nargs="?", help="folder under packages/ or distribution name")
    parser.add_argument("version", nargs="?", help="the new version, say 0.1.1")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, make none")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this)")
    parser.add_argument("--date", type=datetime.date.fromisoformat, help="release date (today)")
    parser.add_argument("--check-tag", metavar="TAG", help="for the release workflow")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check_tag:
            print("\n".join(check_tag(root, args.check_tag)))
            return 0
        if not args.package or not args.version:
            parser.error("PACKAGE and VERSION are required")
        today = args.date or datetime.datetime.now(datetime.timezone.utc).date()
        release = plan(root, args.package, args.version, today=today)
        dirty = _git(root, "status", "--porcelain").strip()
        if args.dry_run:
            print(
                f"dry run: releasing {release.package.distribution} "
                f"{release.package.version} -> {release.version}; nothing is changed\n"
            )
            for change in release.changes:
                print(change.diff(root))
            print(f"would commit: {release.message!r}")
            print(f"would tag:    {release.tag}")
            print(f"then push:    git push origin HEAD {release.tag}")
            if dirty:
                print("\nnote: the work tree has uncommitted changes; a real run refuses")
            return 0
        if dirty:
            raise ReleaseError("the work tree has uncommitted changes: commit or stash them")
        apply(root, release)
    except ReleaseError as error:
        print(f"release refused: {error}", file=sys.stderr)
        return 1
    print(f"released {release.message}: committed and tagged {release.tag}")
    print(f"push it: git push origin HEAD {release.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
