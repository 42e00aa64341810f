"""The table name check and every SQL statement the store runs.

The table name is the only text ever put into SQL, and only after it matched
``[A-Za-z_][A-Za-z0-9_]*``; keys, values and times are always bound parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MIN_SQLITE_VERSION", "Statements", "check_table"]

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


@dataclass(frozen=True)
class Statements:
    """The SQL for one table, built once so the driver's statement cache always hits."""

    create_table: str
    create_index: str
    get: str
    has: str
    set: str
    delete: str
    delete_expired_key: str
    touch: str
    get_and_touch: str
    count_hit: str
    sweep: str
    first_keys: str
    next_keys: str
    first_entries: str
    next_entries: str

    @classmethod
    def for_table(cls, table: str) -> Statements:
        t = f'"{check_table(table)}"'
        index = f'"{table}_expires_at"'
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
            get=f"SELECT value, expires_at FROM {t} WHERE key = ?",
            has=f"SELECT 1 FROM {t} WHERE key = ? AND {live}",
            set=(
                f"INSERT INTO {t} (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, expires_at = excluded.expires_at"
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
            first_keys=f"SELECT key FROM {t} WHERE key >= ? AND {live} ORDER BY key LIMIT ?",
            next_keys=f"SELECT key FROM {t} WHERE key > ? AND {live} ORDER BY key LIMIT ?",
            first_entries=(
                f"SELECT key, value FROM {t} WHERE key >= ? AND {live} ORDER BY key LIMIT ?"
            ),
            next_entries=(
                f"SELECT key, value FROM {t} WHERE key > ? AND {live} ORDER BY key LIMIT ?"
            ),
        )
