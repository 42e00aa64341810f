"""The table name check and every SQL statement the store runs.

The table name is the only text ever put into SQL, and only after it matched
``[A-Za-z_][A-Za-z0-9_]*``; keys, values and times are always bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MIN_SQLITE_VERSION", "Statements", "check_columns", "check_table"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# RETURNING (get_and_touch, count_hit) arrived in SQLite 3.35.0.
MIN_SQLITE_VERSION = (3, 35, 0)


def check_table(table: object) -> str:
    """Return ``table`` when it is a plain identifier; raise naming the option otherwise."""
    if not isinstance(table, str):
        raise TypeError(f"table must be a str, got {type(table).__name__}: {table!r}")
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(
            f"table must match [A-Za-z_][A-Za-z0-9_]* (letters, digits, underscore; "
            f"not starting with a digit), got {table!r}"
        )
    return table


def _affinity(declared: str) -> str:
    """The column affinity SQLite gives a declared type (rules of section 3.1 of
    https://sqlite.org/datatype3.html, in their order)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return "TEXT"
    if "BLOB" in upper or not upper:
        return "BLOB"
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return "REAL"
    return "NUMERIC"


_OURS = frozenset(("key", "value", "expires_at"))


def check_columns(
    table: str, columns: list[tuple[str, str, int, object, int]], key_collation: str | None
) -> str | None:
    """Why a table with these ``(name, type, notnull, default, pk)`` columns (from
    ``pragma_table_info``) cannot hold the store's rows, or ``None`` when it can.

    What matters is that each column keeps what the store binds: a key or a value of
    INTEGER, REAL or NUMERIC affinity turns ``"1"`` and ``"1.0"`` into one number (keys
    merge, JSON text changes), an ``expires_at`` of TEXT affinity turns times into text
    that never compares as expired, and ``key`` must be the whole primary key, compared
    byte for byte, for ``ON CONFLICT (key)`` to find the row.
    """
    by_name = {column[0].lower(): column for column in columns}
    for name in ("key", "value", "expires_at"):
        if name not in by_name:
            return f"it has no column {name!r}"
    _, key_type, _, _, key_pk = by_name["key"]
    if _affinity(key_type) not in ("TEXT", "BLOB"):
        return f"column 'key' is {key_type!r}, which turns numeric text into numbers"
    if key_pk != 1 or sum(1 for column in columns if column[4]) != 1:
        return "column 'key' is not its primary key on its own"
    if key_collation is not None and key_collation.upper() != "BINARY":
        return f"column 'key' compares with COLLATE {key_collation}, not byte for byte"
    _, value_type, value_notnull, _, _ = by_name["value"]
    if _affinity(value_type) not in ("TEXT", "BLOB"):
        return f"column 'value' is {value_type!r}, which turns JSON text into numbers"
    if not value_notnull:
        return "column 'value' is not NOT NULL"
    expires_type = by_name["expires_at"][1]
    if _affinity(expires_type) == "TEXT":
        return f"column 'expires_at' is {expires_type!r}, which stores times as text"
    for name, _, notnull, default, pk in columns:
        if notnull and default is None and not pk and name.lower() not in _OURS:
            return f"column {name!r} is NOT NULL without a default, so no row can be inserted"
    return None


def index_name(table: str) -> str:
    """The name of the expiry index of ``table``: ``<table>:expires_at``."""
    return f"{table}:expires_at"


def covering_index_name(table: str) -> str:
    """The name of the covering index of ``table``: ``<table>:key_expires_at``."""
    return f"{table}:key_expires_at"


def legacy_index_name(table: str) -> str:
    """The name versions before 0.2 gave the expiry index."""
    return f"{table}_expires_at"


def lease_table_name(table: str) -> str:
    """The name of the lease table of ``table``: ``<table>:leases``."""
    return f"{table}:leases"


# Read once at construction, with bound names: which of the store's objects exist.
OBJECTS_SQL = (
    "SELECT type, lower(name), tbl_name, sql FROM sqlite_master "
    "WHERE lower(name) IN (lower(?), lower(?), lower(?), lower(?), lower(?))"
)
COLUMNS_SQL = 'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)'
PK_INDEX_SQL = "SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'"
PK_COLLATION_SQL = "SELECT coll FROM pragma_index_xinfo(?) WHERE key = 1 AND cid >= 0"


@dataclass(frozen=True)
class Statements:
    """The SQL for one table, built once so the driver's statement cache always hits."""

    create_table: str
    create_index: str
    create_covering_index: str
    covering_index_sql: str
    drop_legacy_index: str
    legacy_index_sql: str
    get: str
    has: str
    has_covered: str
    set: str
    set_unexpiring: str
    delete: str
    delete_expired_key: str
    touch: str
    get_and_touch: str
    count_hit: str
    sweep: str
    sweep_batch: str
    create_leases: str
    take_lease: str
    end_lease: str
    drop_lease: str
    sweep_leases: str
    first_keys: str
    next_keys: str
    first_entries: str
    next_entries: str
    first_keys_below: str
    next_keys_below: str
    first_entries_below: str
    next_entries_below: str

    @classmethod
    def for_table(cls, table: str) -> Statements:
        t = f'"{check_table(table)}"'
        # ":" is a character check_table never admits, so this name cannot be a valid
        # table's, nor another table's index (versions before 0.2 named it
        # <table>_expires_at, which is the valid table name "a_expires_at" for table "a").
        index = f'"{index_name(table)}"'
        legacy = f'"{legacy_index_name(table)}"'
        covering = f'"{covering_index_name(table)}"'
        leases = f'"{lease_table_name(table)}"'
        # The TypeScript package's boundary: a row is live while expires_at >= now.
        live = "(expires_at IS NULL OR expires_at >= ?)"
        # count_hit: a window goes on while the row is live and its stored resetAt is in
        # the future; otherwise the inserted row (a new window) replaces it. Every SET
        # expression reads the old row, so the CASEs agree. Parameters, in order (plain
        # "?": numbered ones with a sequence are deprecated since Python 3.12):
        # key, new resetAt twice, now five times.
        going_on = (
            "((expires_at IS NULL OR expires_at >= ?) AND json_extract(value, '$.resetAt') > ?)"
        )
        return cls(
            create_table=(
                f"CREATE TABLE IF NOT EXISTS {t} "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER)"
            ),
            # Partial index: rows without expiry cost nothing in it, and a sweep reads only
            # the rows it deletes.
            create_index=(
                f"CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at) "
                "WHERE expires_at IS NOT NULL"
            ),
            # (key, expires_at): has, keys and the live filter of every walk read only
            # this index, never the row, whose value may run over many overflow pages
            # (expires_at comes after value in the TypeScript package's column order).
            create_covering_index=f"CREATE INDEX IF NOT EXISTS {covering} ON {t} (key, expires_at)",
            # As sqlite_master keeps it (without IF NOT EXISTS).
            covering_index_sql=f"CREATE INDEX {covering} ON {t} (key, expires_at)",
            drop_legacy_index=f"DROP INDEX IF EXISTS {legacy}",
            # As sqlite_master keeps it: the statement of versions before 0.2, without
            # IF NOT EXISTS. Only an index with exactly this text is ours to drop.
            legacy_index_sql=(
                f"CREATE INDEX {legacy} ON {t} (expires_at) WHERE expires_at IS NOT NULL"
            ),
            get=f"SELECT value, expires_at FROM {t} WHERE key = ?",
            has=f"SELECT 1 FROM {t} WHERE key = ? AND {live}",
            # The planner prefers the primary key's unique index for key = ?, and then
            # reads the row: name the covering index instead (only once it exists).
            has_covered=f"SELECT 1 FROM {t} INDEXED BY {covering} WHERE key = ? AND {live}",
            set=(
                f"INSERT INTO {t} (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, expires_at = excluded.expires_at"
            ),
            # A set without ttl over a row without expiry: expires_at stays out of the
            # SET list, so SQLite leaves both expiry indexes alone and the write dirties
            # the row's page only. No row changed: the row there has an expiry, and the
            # full set above runs instead.
            set_unexpiring=(
                f"INSERT INTO {t} (key, value, expires_at) VALUES (?, ?, NULL) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
                "WHERE expires_at IS NULL"
            ),
            delete=f"DELETE FROM {t} WHERE key = ?",
            delete_expired_key=f"DELETE FROM {t} WHERE key = ? AND expires_at < ?",
            touch=f"UPDATE {t} SET expires_at = ? WHERE key = ? AND {live}",
            get_and_touch=(
                f"UPDATE {t} SET expires_at = ? WHERE key = ? AND {live} RETURNING value"
            ),
            count_hit=(
                f"INSERT INTO {t} (key, value, expires_at) "
                "VALUES (?, json_object('hits', 1, 'resetAt', ?), ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                f"value = CASE WHEN {going_on} THEN json_object("
                "'hits', json_extract(value, '$.hits') + 1, "
                "'resetAt', json_extract(value, '$.resetAt')) "
                "ELSE excluded.value END, "
                f"expires_at = CASE WHEN {going_on} "
                "THEN json_extract(value, '$.resetAt') ELSE excluded.expires_at END "
                # A live row that is not a counter belongs to someone else: no update, no
                # row returned, and count_hit raises instead of overwriting it.
                "WHERE expires_at < ? OR (json_type(value, '$.hits') = 'integer' "
                "AND json_type(value, '$.resetAt') IN ('integer', 'real')) "
                "RETURNING json_extract(value, '$.hits'), expires_at"
            ),
            sweep=f"DELETE FROM {t} WHERE expires_at < ?",
            # One batch of a sweep: the first rows in expiry order (the partial index),
            # each deleted by its key (WITHOUT ROWID tables have no rowid).
            sweep_batch=(
                f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at < ? LIMIT ?)"
            ),
            # Leases live beside the data, never in it: the data table keeps the format
            # the TypeScript package reads. A row is a held lease until expires_at < now.
            create_leases=(
                f"CREATE TABLE IF NOT EXISTS {leases} "
                "(key TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL)"
            ),
            # Take a free or expired lease and read the value, in one statement (one
            # write transaction, so the read is of the moment the lease was taken): a
            # row back is the lease, none means someone holds it. Parameters: key,
            # token, lease end, now, key, key.
            take_lease=(
                f"INSERT INTO {leases} (key, token, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "token = excluded.token, expires_at = excluded.expires_at "
                f"WHERE {leases}.expires_at < ? "
                f"RETURNING (SELECT value FROM {t} WHERE key = ?), "
                f"(SELECT expires_at FROM {t} WHERE key = ?)"
            ),
            # First statement of a write under a lease: it ends the lease if it still
            # holds (a row deleted), and takes the write lock for the write that follows.
            end_lease=f"DELETE FROM {leases} WHERE key = ? AND token = ? AND expires_at >= ?",
            drop_lease=f"DELETE FROM {leases} WHERE key = ? AND token = ?",
            sweep_leases=f"DELETE FROM {leases} WHERE expires_at < ?",
            first_keys=f"SELECT key FROM {t} WHERE key >= ? AND {live} ORDER BY key LIMIT ?",
            next_keys=f"SELECT key FROM {t} WHERE key > ? AND {live} ORDER BY key LIMIT ?",
            first_entries=(
                f"SELECT key, value FROM {t} WHERE key >= ? AND {live} ORDER BY key LIMIT ?"
            ),
            next_entries=(
                f"SELECT key, value FROM {t} WHERE key > ? AND {live} ORDER BY key LIMIT ?"
            ),
            # A prefix walk: the key range [prefix, end of prefix), a SEARCH of the
            # covering index (or the primary key), never a SCAN.
            first_keys_below=(
                f"SELECT key FROM {t} WHERE key >= ? AND key < ? AND {live} ORDER BY key LIMIT ?"
            ),
            next_keys_below=(
                f"SELECT key FROM {t} WHERE key > ? AND key < ? AND {live} ORDER BY key LIMIT ?"
            ),
            first_entries_below=(
                f"SELECT key, value FROM {t} WHERE key >= ? AND key < ? AND {live} "
                "ORDER BY key LIMIT ?"
            ),
            next_entries_below=(
                f"SELECT key, value FROM {t} WHERE key > ? AND key < ? AND {live} "
                "ORDER BY key LIMIT ?"
            ),
        )
