import puregram.storage_postgres


def test_all_is_the_public_api() -> None:
    assert sorted(puregram.storage_postgres.__all__) == [
        "PostgresStorage",
        "SchemaError",
        "__version__",
    ]


def test_names_belong_to_the_package() -> None:
    assert puregram.storage_postgres.PostgresStorage.__module__ == "puregram.storage_postgres"
    assert puregram.storage_postgres.SchemaError.__module__ == "puregram.storage_postgres"


def test_version_is_a_string() -> None:
    assert isinstance(puregram.storage_postgres.__version__, str)
