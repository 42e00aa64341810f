"""tools/release.py on a temporary clone of this repository: no network, no push."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
from pathlib import Path

import pytest

from tools.release import main

ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-12-02"
IDENTITY = {
    "GIT_AUTHOR_NAME": "release test",
    "GIT_AUTHOR_EMAIL": "release@test.invalid",
    "GIT_COMMITTER_NAME": "release test",
    "GIT_COMMITTER_EMAIL": "release@test.invalid",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone of the committed repository, with an identity for commits."""
    repo = tmp_path / "repo"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)],
        check=True,
        capture_output=True,
    )
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    return repo


def release(repo: Path, *args: str) -> int:
    return main([*args, "--root", str(repo), "--date", DAY])


def _about(repo: Path, folder: str, module: str) -> str:
    return (repo / "packages" / folder / "src" / "puregram" / module / "__about__.py").read_text()


def test_dry_run_prints_the_changes_and_makes_none(
    clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git(clone, "rev-parse", "HEAD")
    assert release(clone, "storage-redis", "0.1.1", "--dry-run") == 0
    out = capsys.readouterr().out
    assert '+__version__ = "0.1.1"' in out
    assert f"+## 0.1.1 ({DAY})" in out
    assert "would tag:    puregram-storage-redis-v0.1.1" in out
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "tag", "--list") == ""


def test_a_release_bumps_dates_commits_and_tags(clone: Path) -> None:
    changelog = clone / "packages" / "storage-redis" / "CHANGELOG.md"
    unreleased = changelog.read_text().split("## Unreleased\n", 1)[1].split("\n## ", 1)[0]
    assert unreleased.strip()

    assert release(clone, "puregram-storage-redis", "0.1.1") == 0

    assert _about(clone, "storage-redis", "storage_redis") == '__version__ = "0.1.1"\n'
    text = changelog.read_text()
    assert text.startswith(f"# Changelog\n\n## Unreleased\n\n## 0.1.1 ({DAY})\n")
    assert unreleased in text.split(f"## 0.1.1 ({DAY})\n", 1)[1]
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "log", "-1", "--format=%s").strip() == "puregram-storage-redis 0.1.1"
    assert git(clone, "show", "--name-only", "--format=", "HEAD").split() == [
        "packages/storage-redis/CHANGELOG.md",
        "packages/storage-redis/src/puregram/storage_redis/__about__.py",
    ]
    tag = "puregram-storage-redis-v0.1.1"
    assert git(clone, "rev-parse", f"{tag}^{{commit}}") == git(clone, "rev-parse", "HEAD")
    assert git(clone, "cat-file", "-t", tag).strip() == "tag"  # annotated
    # The workflow's view of the tag:
    assert main(["--root", str(clone), "--check-tag", tag]) == 0

    # The next release of the same package needs new Unreleased notes first.
    assert release(clone, "storage-redis", "0.1.2") == 1


def test_a_version_a_sibling_range_refuses_changes_nothing(
    clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert release(clone, "storage-core", "0.2.0") == 1
    err = capsys.readouterr().err
    assert (
        "packages/storage-redis requires puregram-storage<0.2,>=0.1, which does not admit "
        "puregram-storage 0.2.0"
    ) in err
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "tag", "--list") == ""


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["storage-core", "0.1.0"], "VERSION must be above it"),
        (["storage-core", "0.0.9"], "VERSION must be above it"),
        (["storage-core", "one"], "is not a version"),
        (["storage-core", "0.1.01"], "write it as 0.1.1"),
        (["mongo", "1.0.0"], "no package 'mongo'; the packages are: "),
    ],
)
def test_bad_arguments_are_refused(
    clone: Path, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    assert release(clone, *args) == 1
    assert reason in capsys.readouterr().err
    assert git(clone, "status", "--porcelain") == ""


def test_an_existing_tag_an_empty_changelog_and_a_dirty_tree_are_refused(
    clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(clone, "tag", "puregram-session-v0.1.1")
    assert release(clone, "session", "0.1.1") == 1
    assert "the tag puregram-session-v0.1.1 exists already" in capsys.readouterr().err

    changelog = clone / "packages" / "rate-limit" / "CHANGELOG.md"
    text = changelog.read_text()
    emptied = re.sub(r"## Unreleased\n.*?(?=\n## )", "## Unreleased\n", text, flags=re.S)
    changelog.write_text(emptied)
    git(clone, "commit", "-qam", "empty notes")
    assert release(clone, "rate-limit", "0.1.1") == 1
    assert "the Unreleased section is empty" in capsys.readouterr().err

    (clone / "packages" / "storage-sqlite" / "README.md").write_text("edited\n")
    assert release(clone, "storage-sqlite", "0.1.1") == 1
    assert "uncommitted changes" in capsys.readouterr().err
    assert git(clone, "tag", "--list").split() == ["puregram-session-v0.1.1"]


def test_check_tag_refuses_a_tag_the_tree_does_not_hold(
    clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(clone), "--check-tag", "puregram-storage-v0.1.0"]) == 0
    assert capsys.readouterr().out.split() == [
        "folder=storage-core",
        "distribution=puregram-storage",
        "version=0.1.0",
    ]
    assert main(["--root", str(clone), "--check-tag", "puregram-storage-v0.2.0"]) == 1
    assert "says 0.2.0, but" in capsys.readouterr().err
    assert main(["--root", str(clone), "--check-tag", "nothing-v1"]) == 1


def test_the_release_date_is_today_in_utc(clone: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).date()
    assert main(["storage-core", "0.1.1", "--dry-run", "--root", str(clone)]) == 0
    after = datetime.datetime.now(datetime.timezone.utc).date()
    out = capsys.readouterr().out
    assert f"+## 0.1.1 ({before})" in out or f"+## 0.1.1 ({after})" in out
