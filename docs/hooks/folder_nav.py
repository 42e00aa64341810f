"""MkDocs hook: package pages, API pages and folder entries in the navigation.

- A nav entry whose value is a folder (``Packages: packages/``) becomes the list of that
  folder's pages, ``index.md`` first, then in ``ORDER``, then by file name, each titled
  by its first heading (for a page that includes a README, the README's).
- ``API reference: api/`` lists one generated page per package under ``packages/``:
  ``api/<folder>.md`` holds ``::: puregram.<module>``, which mkdocstrings renders from the
  docstrings. Nothing to write by hand: a new package gets its API page by existing.

So a new package's docs are one new file, ``docs/packages/<folder>.md``;
``tools/test_docs.py`` fails when a package has none.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.structure.files import Files

# Pages listed first, in this order (the rest follow by file name).
ORDER = [
    "index",
    "storage-core",
    "storage-redis",
    "storage-sqlite",
    "storage-postgres",
    "session",
    "rate-limit",
    "aiogram",
    "ptb",
]
API = "api/"


def _rank(stem: str) -> tuple[int, str]:
    return (ORDER.index(stem) if stem in ORDER else len(ORDER), stem)


def packages(root: Path) -> list[tuple[str, str]]:
    """(folder, module) of every package: ``("storage-core", "puregram.storage")``."""
    found = []
    for folder in sorted((root / "packages").iterdir(), key=lambda p: _rank(p.name)):
        src = folder / "src" / "puregram"
        if (folder / "pyproject.toml").is_file() and src.is_dir():
            subs = sorted(p.name for p in src.iterdir() if p.is_dir() and p.name[0] != "_")
            found += [(folder.name, f"puregram.{sub}") for sub in subs[:1]]
    return found


def _title(page: Path, root: Path) -> str | None:
    text = page.read_text(encoding="utf-8")
    heading = re.search(r"^# (.+)$", text, re.M)
    snippet = re.search(r'^--8<-- "([^"]+)"$', text, re.M)
    if snippet and (not heading or snippet.start() < heading.start()):
        return _title(root / snippet.group(1), root)
    return heading.group(1).strip().strip("`") if heading else None


def _expand(item: Any, docs_dir: Path, root: Path) -> Any:
    if isinstance(item, list):
        return [_expand(entry, docs_dir, root) for entry in item]
    if isinstance(item, dict):
        return {title: _expand(value, docs_dir, root) for title, value in item.items()}
    if item == API:
        return [{module: f"{API}{folder}.md"} for folder, module in packages(root)]
    if isinstance(item, str) and item.endswith("/") and (docs_dir / item).is_dir():
        pages = sorted((docs_dir / item).glob("*.md"), key=lambda p: _rank(p.stem))
        entries: list[Any] = []
        for page in pages:
            title = _title(page, root)
            path = f"{item}{page.name}"
            entries.append({title: path} if title else path)
        return entries
    return item


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def on_config(config: Any) -> Any:
    config["nav"] = _expand(config["nav"], Path(config["docs_dir"]), _root(config))
    return config


def api_page(folder: str, module: str) -> str:
    return (
        f"# `{module}`\n\n"
        f"The public API of `{module}` (its `__all__`), generated from the docstrings. "
        f"The guide, with runnable examples, every option and the stored format, is "
        f"[the package page](../packages/{folder}.md).\n\n"
        f"::: {module}\n"
        f"    options:\n"
        f"      show_root_heading: false\n"
    )


def on_files(files: Files, config: Any) -> Files:
    from mkdocs.structure.files import File  # here: tools/test_docs.py loads this without mkdocs

    for folder, module in packages(_root(config)):
        files.append(
            File.generated(config, f"{API}{folder}.md", content=api_page(folder, module))
        )
    return files
