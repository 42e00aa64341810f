"""Every distribution's public API, checked the same way: its ``__version__`` is the
installed metadata's, and every public class and function names a public module in
tracebacks and reprs (``puregram.storage.MemoryStorage``, never ``..._memory``)."""

from __future__ import annotations

import importlib
import inspect
import types
from importlib.metadata import version

import pytest

PACKAGES = {
    "puregram.storage": "puregram-storage",
    "puregram.storage_redis": "puregram-storage-redis",
    "puregram.storage_sqlite": "puregram-storage-sqlite",
    "puregram.storage_postgres": "puregram-storage-postgres",
    "puregram.session": "puregram-session",
    "puregram.rate_limit": "puregram-rate-limit",
    "puregram.aiogram": "puregram-aiogram",
    "puregram.ptb": "puregram-ptb",
}


@pytest.mark.parametrize(("module", "distribution"), PACKAGES.items())
def test_version_is_the_installed_metadata_version(module: str, distribution: str) -> None:
    assert importlib.import_module(module).__version__ == version(distribution)


def _public_objects() -> list[tuple[str, str]]:
    found = []
    for module in PACKAGES:
        package = importlib.import_module(module)
        for name in package.__all__:
            value = getattr(package, name)
            # Not type aliases: on Python 3.10 inspect.isclass(Callable[[Any], Any]) is true.
            alias = isinstance(value, types.GenericAlias)
            if (inspect.isclass(value) and not alias) or inspect.isfunction(value):
                found.append((module, name))
    return found


@pytest.mark.parametrize(("module", "name"), _public_objects())
def test_public_names_show_a_public_module(module: str, name: str) -> None:
    shown = getattr(importlib.import_module(module), name).__module__
    assert not any(part.startswith("_") for part in shown.split(".")), shown
    assert shown.startswith("puregram.")
