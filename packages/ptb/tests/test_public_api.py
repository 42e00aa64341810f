from pathlib import Path

import puregram.ptb


def test_public_api_is_pinned() -> None:
    assert sorted(puregram.ptb.__all__) == [
        "PersistEveryUpdate",
        "RateLimitHandler",
        "StoragePersistence",
        "__version__",
        "by_user",
    ]


def test_every_exported_name_exists_and_shows_the_public_module() -> None:
    for name in puregram.ptb.__all__:
        value = getattr(puregram.ptb, name)
        if name != "__version__":
            assert value.__module__ == "puregram.ptb", name


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert puregram.ptb.__version__ == version("puregram-ptb")


def test_the_package_is_typed() -> None:
    assert (Path(puregram.ptb.__file__).parent / "py.typed").is_file()
