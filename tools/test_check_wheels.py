"""The namespace rules hold for every package's real wheel (built here with hatchling)."""

from pathlib import Path

from tools.check_wheels import PACKAGES, Wheel, check, overlaps, problems_of


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
