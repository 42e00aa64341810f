import puregram.aiogram
import puregram.aiogram.testing


def test_public_api_is_pinned() -> None:
    assert sorted(puregram.aiogram.__all__) == [
        "EventIsolation",
        "FsmKeyBuilder",
        "FsmStorage",
        "RateLimitMiddleware",
        "SessionMiddleware",
        "UpdateContext",
        "__version__",
    ]
    assert sorted(puregram.aiogram.testing.__all__) == [
        "RecordingSession",
        "callback_update",
        "make_bot",
        "message_update",
    ]


def test_every_exported_name_exists_and_names_the_public_module() -> None:
    for name in puregram.aiogram.__all__:
        value = getattr(puregram.aiogram, name)
        if name != "__version__":
            assert value.__module__ == "puregram.aiogram", name


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert puregram.aiogram.__version__ == version("puregram-aiogram")
