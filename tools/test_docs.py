"""Every package has a page on the docs site (docs/packages/<folder>.md) with its API
reference, the navigation lists it, and the site's sources cover every packages/*/src.

`hatch run docs:build` (mkdocs build --strict, run by .ci/run) checks that the pages
render; these tests only need the files, so they run in `hatch test`.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FOLDERS = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
# Framework integrations also get a getting-started page once their package exists.
GETTING_STARTED = {"aiogram": "aiogram.md", "ptb": "ptb.md"}
MKDOCS = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("folder_nav", DOCS / "hooks" / "folder_nav.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav() -> list[str]:
    """Every page path of the navigation, as the hook expands it for mkdocs."""
    block = re.search(r"^nav:\n((?:[ -].*\n)+)", MKDOCS, re.M)
    assert block, "mkdocs.yml has no nav"
    entries = re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md|\S+/)$", block.group(1), re.M)
    config = {"nav": entries, "docs_dir": str(DOCS)}
    expanded: list[str | list[str]] = _hook().on_config(config)["nav"]
    flat: list[str] = []
    for item in expanded:
        flat += item if isinstance(item, list) else [item]
    return flat


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_package_has_a_docs_page_with_its_api_reference(folder: Path) -> None:
    (sub,) = (folder / "src" / "puregram").iterdir()
    page = DOCS / "packages" / f"{folder.name}.md"
    assert page.is_file(), (
        f"{folder.name} has no docs page: copy docs/packages/storage-core.md to {page.name} "
        f"and change the folder and the module"
    )
    text = page.read_text(encoding="utf-8")
    assert re.search(rf"^::: puregram\.{sub.name}$", text, re.M), f"{page.name}: no API reference"
    assert f"packages/{page.name}" in _nav()


def test_framework_packages_have_a_getting_started_page() -> None:
    for folder in FOLDERS:
        if folder.name in GETTING_STARTED:
            page = DOCS / "getting-started" / GETTING_STARTED[folder.name]
            assert page.is_file(), f"{folder.name} has no getting-started page {page.name}"


def test_the_api_reference_reads_every_package_source() -> None:
    assert "paths: [packages/*/src]" in MKDOCS


def test_every_page_of_the_site_is_in_the_navigation() -> None:
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "hooks" not in p.parts}
    assert pages == set(_nav())
