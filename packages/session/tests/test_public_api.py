"""``__all__`` is the public API: adding or dropping a name must be deliberate."""

from __future__ import annotations

import puregram.session


def test_all_is_pinned() -> None:
    assert sorted(puregram.session.__all__) == [
        "CorruptValueError",
        "ForeignValueError",
        "LazySession",
        "LeaseLostError",
        "NoSessionError",
        "Session",
        "SessionLayer",
        "SessionMiddleware",
        "Sessions",
        "StorageError",
        "__version__",
        "by_chat",
        "by_sender",
        "by_user_in_chat",
        "session",
        "ttl",
    ]


def test_every_public_name_exists() -> None:
    for name in puregram.session.__all__:
        assert getattr(puregram.session, name) is not None


def test_no_session_error_is_a_runtime_error() -> None:
    assert issubclass(puregram.session.NoSessionError, RuntimeError)


def test_version_matches_about() -> None:
    from puregram.session.__about__ import __version__

    assert puregram.session.__version__ == __version__


def test_the_storage_errors_are_the_cores() -> None:
    """A handler catches ``puregram.session.LeaseLostError`` and the core's alike."""
    import puregram.storage

    for name in ("StorageError", "CorruptValueError", "ForeignValueError", "LeaseLostError"):
        assert getattr(puregram.session, name) is getattr(puregram.storage, name)
    assert issubclass(puregram.session.ForeignValueError, ValueError)
    assert issubclass(puregram.session.CorruptValueError, ValueError)
