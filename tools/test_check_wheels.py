"""The packaging rules hold for every package's real wheel and sdist (built here with
hatchling): namespace, LICENSE, project URLs, no tests in sdists."""

from pathlib import Path

from tools.check_wheels import (
    LICENSE,
    PACKAGES,
    Sdist,
    Wheel,
    check,
    metadata_problems,
    overlaps,
    problems_of,
    sdist_problems,
)


def test_every_wheel_ships_only_its_own_sub_package(tmp_path: Path) -> None:
    assert check(tmp_path) == []


def test_a_shared_path_is_reported(tmp_path: Path) -> None:
    files = frozenset({"puregram/storage/_x.py"})
    one = Wheel(PACKAGES / "a", tmp_path / "a.whl", files)
    two = Wheel(PACKAGES / "b", tmp_path / "b.whl", files)
    assert overlaps([one, two]) == ["puregram/storage/_x.py is shipped by both a and b"]


def test_a_namespace_init_is_reported(tmp_path: Path) -> None:
    core = PACKAGES / "storage-core"
    files = frozenset({"puregram/__init__.py", "puregram/storage/py.typed"})
    found = problems_of(Wheel(core, tmp_path / "puregram_storage-0.1.0-py3-none-any.whl", files))
    assert "storage-core: ships puregram/__init__.py, which breaks the namespace" in found
    assert "storage-core: ships puregram/__init__.py, outside puregram/storage/" in found


def test_a_wheel_without_the_license_is_reported(tmp_path: Path) -> None:
    core = PACKAGES / "storage-core"
    files = frozenset({"puregram/storage/py.typed"})
    found = problems_of(Wheel(core, tmp_path / "puregram_storage-0.1.0-py3-none-any.whl", files))
    assert "storage-core: the wheel ships no LICENSE" in found


def test_an_sdist_with_tests_is_reported(tmp_path: Path) -> None:
    core = PACKAGES / "storage-core"
    files = frozenset({"pyproject.toml", "README.md", "CHANGELOG.md", "PKG-INFO", "tests/x.py"})
    found = sdist_problems(Sdist(core, tmp_path / "x.tar.gz", files, LICENSE.read_bytes()))
    assert found == [
        "storage-core: the sdist ships tests/x.py, which needs the repository's tools/"
    ]


def test_a_relative_readme_link_and_missing_urls_are_reported() -> None:
    metadata = (
        "Metadata-Version: 2.4\nName: x\nLicense-Expression: MIT\n"
        "Project-URL: Homepage, https://example.invalid\n\n"
        "see [the core](../storage-core/README.md) and [options](#options)\n"
    )
    found = metadata_problems("x", metadata)
    assert "x: metadata has no Project-URL Issues" in found
    assert (
        "x: README links to '../storage-core/README.md', which breaks on PyPI (use a URL)" in found
    )
    assert not any("#options" in problem for problem in found)
