import puregram.rate_limit
from puregram.rate_limit import RateLimiter, rate_limit


def test_public_api_is_pinned() -> None:
    assert sorted(puregram.rate_limit.__all__) == [
        "CorruptValueError",
        "ForeignValueError",
        "RateLimiter",
        "StorageError",
        "__version__",
        "rate_limit",
    ]


def test_the_storage_errors_are_the_cores() -> None:
    import puregram.storage

    for name in ("StorageError", "CorruptValueError", "ForeignValueError"):
        assert getattr(puregram.rate_limit, name) is getattr(puregram.storage, name)


def test_every_exported_name_exists() -> None:
    for name in puregram.rate_limit.__all__:
        assert hasattr(puregram.rate_limit, name), name


def test_rate_limit_makes_a_rate_limiter() -> None:
    assert isinstance(rate_limit(), RateLimiter)


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert puregram.rate_limit.__version__ == version("puregram-rate-limit")
