"""MkDocs hook: a nav entry whose value is a folder (``Packages: packages/``) becomes the
list of that folder's pages, ``index.md`` first, then in ``ORDER``, then by file name.

So a new package's page is one new file, ``docs/packages/<folder>.md``, and the same for a
getting-started page; ``tools/test_docs.py`` fails when a package has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Pages listed first, in this order (the rest follow by file name).
ORDER = ["index", "storage-core", "storage-redis", "storage-sqlite", "storage-postgres",
         "session", "rate-limit", "plain", "aiogram", "ptb"]


def _rank(page: Path) -> tuple[int, str]:
    stem = page.stem
    return (ORDER.index(stem) if stem in ORDER else len(ORDER), stem)


def _expand(item: Any, docs_dir: Path) -> Any:
    if isinstance(item, list):
        return [_expand(entry, docs_dir) for entry in item]
    if isinstance(item, dict):
        return {title: _expand(value, docs_dir) for title, value in item.items()}
    if isinstance(item, str) and item.endswith("/") and (docs_dir / item).is_dir():
        pages = sorted((docs_dir / item).glob("*.md"), key=_rank)
        return [f"{item}{page.name}" for page in pages]
    return item


def on_config(config: Any) -> Any:
    config["nav"] = _expand(config["nav"], Path(config["docs_dir"]))
    return config
