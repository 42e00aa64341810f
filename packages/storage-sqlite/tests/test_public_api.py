import puregram.storage_sqlite


def test_all_is_the_public_api() -> None:
    assert sorted(puregram.storage_sqlite.__all__) == [
        "DatabaseMovedError",
        "SchemaError",
        "SqliteStorage",
        "__version__",
        "connect",
    ]


def test_version_is_a_string() -> None:
    assert isinstance(puregram.storage_sqlite.__version__, str)
