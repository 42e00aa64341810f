"""keys/values/entries(prefix=...): a key range on the primary key, in the order SQLite
compares text (UTF-8 bytes, that is code points)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from puregram.storage_sqlite import SqliteStorage, connect
from puregram.storage_sqlite._storage import _key_range

pytestmark = pytest.mark.anyio

MAX = "\U0010ffff"

# Keys that sort right next to the namespace "ns:" on either side, and inside it.
INSIDE = ["ns:", "ns:a", "ns:\x00", "ns:" + MAX, "ns:" + MAX * 3, "ns:\ud7ff", "ns:\ue000"]
OUTSIDE = ["ns", "ns9", "ns;", "ns;\x00", "nr:" + MAX, "n", "", "nt", "ns\x00", "NS:a", "ms:"]


async def collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@pytest.fixture
def db(tmp_path: Path, driver: ModuleType) -> Iterator[Any]:
    connection = connect(tmp_path / "kv.db", driver=driver)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", ("", None)),
        ("a", ("a", "b")),
        ("ns:", ("ns:", "ns;")),
        ("a" + MAX, ("a" + MAX, "b")),
        ("a" + MAX * 3, ("a" + MAX * 3, "b")),
        (MAX, (MAX, None)),
        (MAX * 2, (MAX * 2, None)),
        ("\ud7ff", ("\ud7ff", "\ue000")),  # over the surrogates
        ("x\ud7ff" + MAX, ("x\ud7ff" + MAX, "x\ue000")),
        ("\x00", ("\x00", "\x01")),
    ],
)
def test_the_range_of_a_prefix(prefix: str, expected: tuple[str, str | None]) -> None:
    assert _key_range(prefix, "keys") == expected


def test_the_range_holds_exactly_the_keys_with_the_prefix_in_utf8_order() -> None:
    alphabet = ["", "\x00", "a", "b", "\x7f", "\x80", "\ud7ff", "\ue000", "\uffff", MAX]
    words = [a + b + c for a in alphabet for b in alphabet for c in alphabet[:5]]
    for prefix in {"a", "\ud7ff", MAX, "a" + MAX, "\uffff", "b\x00"}:
        low, high = _key_range(prefix, "keys")
        for word in words:
            raw = word.encode()
            inside = raw >= low.encode() and (high is None or raw < high.encode())
            assert inside == word.startswith(prefix), (prefix, word)


async def test_only_the_namespace_is_listed(db: Any) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    for key in INSIDE + OUTSIDE:
        await store.set(key, key)
    expected = sorted(INSIDE, key=str.encode)
    assert await collect(store.keys(prefix="ns:")) == expected
    assert await collect(store.values(prefix="ns:")) == expected
    assert await collect(store.entries(prefix="ns:")) == [(key, key) for key in expected]
    assert await collect(store.keys(prefix=MAX)) == []
    await store.set(MAX + "z", 1)
    await store.set(MAX, 2)
    assert await collect(store.keys(prefix=MAX)) == [MAX, MAX + "z"]
    assert len(await collect(store.keys(prefix=""))) == len(INSIDE + OUTSIDE) + 2
    assert await collect(store.keys(prefix="ns:\ud7ff")) == ["ns:\ud7ff"]


async def test_a_namespace_over_many_pages_with_neighbours(db: Any) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    rows: list[tuple[str, str, int | None]] = [(f"ns:{i:05d}", "1", None) for i in range(1_234)]
    rows += [(f"ns;{i:05d}", "1", None) for i in range(700)]
    rows += [(f"nr:{i:05d}", "1", None) for i in range(700)]
    rows += [("ns:expired", "1", 5)]
    db.executemany("INSERT INTO puregram_kv VALUES (?, ?, ?)", rows)
    keys = await collect(store.keys(prefix="ns:"))
    assert keys == [f"ns:{i:05d}" for i in range(1_234)]
    assert len(await collect(store.entries(prefix="ns;"))) == 700


@pytest.mark.parametrize("prefix", [None, 1, b"ns:", ["ns:"]])
async def test_a_prefix_that_is_not_a_str_is_a_type_error_at_the_call(
    db: Any, prefix: object
) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    for method in (store.keys, store.values, store.entries):
        with pytest.raises(TypeError, match="prefix"):
            method(prefix=prefix)  # type: ignore[arg-type]


async def test_a_prefix_with_a_lone_surrogate_is_a_value_error(db: Any) -> None:
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    with pytest.raises(ValueError, match="prefix"):
        store.keys(prefix="ns:\ud800")


@pytest.mark.parametrize("rowid", ["", " WITHOUT ROWID"], ids=["rowid", "without-rowid"])
async def test_a_prefix_walk_searches_an_index_never_scans(db: Any, rowid: str) -> None:
    db.execute(
        "CREATE TABLE puregram_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
        f"expires_at INTEGER){rowid}"
    )
    store: SqliteStorage[Any] = SqliteStorage(db=db)
    db.executemany(
        "INSERT INTO puregram_kv VALUES (?, '1', NULL)", [(f"k{i:04d}",) for i in range(1_100)]
    )
    recorded: list[str] = []  # each statement as run, with its parameters
    db.set_trace_callback(recorded.append)
    try:
        assert len(await collect(store.keys(prefix="k0"))) == 1_000
        assert len(await collect(store.entries(prefix="k0"))) == 1_000
    finally:
        db.set_trace_callback(None)
    selects = [sql for sql in recorded if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) >= 4  # two pages each
    for sql in selects:
        plan = " / ".join(
            str(step[3]) for step in db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        )
        assert plan.startswith("SEARCH"), plan
        assert "SCAN" not in plan, plan
        assert "key>" in plan, plan  # both ends of the range
        assert "key<" in plan, plan
        assert "INDEX" in plan or "PRIMARY KEY" in plan, plan
