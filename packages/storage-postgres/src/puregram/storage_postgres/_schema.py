"""The table name check and every SQL statement the store runs.

The table name is the only text ever put into SQL, and only after it matched
``[A-Za-z_][A-Za-z0-9_]*`` (at most 52 characters, so that ``<table>:expires_at`` fits
PostgreSQL's 63-byte names); it is always double-quoted. Keys, values and times are
always bound parameters (``$1``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_TABLE", "Statements", "check_columns", "check_table", "prefix_bounds"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_TABLE = 52


def check_table(table: object) -> str:
    """Return ``table`` when it is a plain identifier; raise naming the option otherwise."""
    if not isinstance(table, str):
        raise TypeError(f"table must be a str, got {type(table).__name__}: {table!r}")
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(
            f"table must match [A-Za-z_][A-Za-z0-9_]* (letters, digits, underscore; "
            f"not starting with a digit), got {table!r}"
        )
    if len(table) > MAX_TABLE:
        raise ValueError(
            f"table must be at most {MAX_TABLE} characters (PostgreSQL names are at most "
            f"63 bytes, and the store adds ':expires_at'), got {len(table)}: {table!r}"
        )
    return table


def index_name(table: str) -> str:
    return f"{table}:expires_at"


def lease_table_name(table: str) -> str:
    return f"{table}:leases"


_MAX_CHAR = 0x10FFFF


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``(lo, hi)``: the keys that start with ``prefix`` are exactly ``lo <= key < hi``
    in code point order (``COLLATE "C"`` on UTF-8), ``hi`` ``None`` for no upper bound."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last == _MAX_CHAR:
            continue
        following = last + 1
        if 0xD800 <= following <= 0xDFFF:  # surrogates: not in UTF-8, skip them
            following = 0xE000
        return prefix, "".join(chars) + chr(following)
    return prefix, None


# One query at the first operation, with the table's quoted name bound as data: its
# columns (name, type, NOT NULL, has default, collation) and primary key columns.
COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef,
       co.collname,
       coalesce(a.attnum = ANY (i.indkey), false), coalesce(array_length(i.indkey, 1), 0),
       c.relkind::text
FROM pg_class c
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.oid = to_regclass($1)
"""

_TEXT_TYPES = ("text", "character varying")


def check_columns(rows: list[Any]) -> str | None:
    """Why a table with these columns (rows of ``COLUMNS_SQL``) cannot hold the store's
    rows, or ``None`` when it can."""
    kind = rows[0][7]
    if kind not in ("r", "p"):
        return f"it is not a table (pg_class.relkind {kind!r})"
    by_name = {row[0]: row for row in rows if row[0] is not None}
    for name in ("key", "value", "expires_at"):
        if name not in by_name:
            return f"it has no column {name!r}"
    _, key_type, _, _, collation, key_pk, pk_size, _ = by_name["key"]
    if key_type not in _TEXT_TYPES:
        return f"column 'key' is {key_type!r}, not text"
    if not key_pk or pk_size != 1:
        return "column 'key' is not its primary key on its own"
    if collation not in ("C", "POSIX"):
        return (
            f"column 'key' compares with COLLATE {collation!r}, not byte for byte "
            '(ALTER TABLE ... ALTER COLUMN key TYPE text COLLATE "C")'
        )
    value_type, value_notnull = by_name["value"][1], by_name["value"][2]
    if value_type not in _TEXT_TYPES:
        return f"column 'value' is {value_type!r}, not text (JSON text is stored as written)"
    if not value_notnull:
        return "column 'value' is not NOT NULL"
    expires_type = by_name["expires_at"][1]
    if expires_type != "bigint":
        return f"column 'expires_at' is {expires_type!r}, not bigint (unix milliseconds)"
    for name, _, notnull, has_default, _, pk, _, _ in rows:
        if notnull and not has_default and not pk and name not in ("key", "value", "expires_at"):
            return f"column {name!r} is NOT NULL without a default, so no row can be inserted"
    return None


@dataclass(frozen=True)
class Statements:
    """The SQL for one table, built once, so asyncpg's per-connection statement cache
    prepares each statement once."""

    lock_schema: str
    create_table: str
    create_index: str
    create_leases: str
    get: str
    has: str
    set: str
    delete: str
    delete_expired_key: str
    touch: str
    get_and_touch: str
    count_hit: str
    sweep: str
    sweep_leases: str
    take_lease: str
    read_leased: str
    drop_lease: str
    fenced_set: str
    fenced_delete: str
    fenced_touch: str
    fenced_nothing: str
    keys_first: str
    keys_next: str
    keys_first_until: str
    keys_next_until: str
    entries_first: str
    entries_next: str
    entries_first_until: str
    entries_next_until: str

    @classmethod
    def for_table(cls, table: str) -> Statements:
        t = f'"{check_table(table)}"'
        index = f'"{index_name(table)}"'
        leases = f'"{lease_table_name(table)}"'
        # A row is live while expires_at >= now (the TypeScript packages' boundary).
        live = "(expires_at IS NULL OR expires_at >= $2)"

        def page(columns: str, first: bool, until: bool) -> str:
            # $1 the last key seen (or the prefix), $2 now, $3 the page size, $4 the
            # prefix's upper bound: a primary-key range, read in index order.
            low = "key >= $1" if first else "key > $1"
            high = " AND key < $4" if until else ""
            return (
                f"SELECT {columns} FROM {t} WHERE {low}{high} "
                "AND (expires_at IS NULL OR expires_at >= $2) ORDER BY key LIMIT $3"
            )

        def pages(columns: str) -> tuple[str, str, str, str]:
            return (
                page(columns, True, False),
                page(columns, False, False),
                page(columns, True, True),
                page(columns, False, True),
            )

        # count_hit, parameters: $1 key, $2 new resetAt, $3 now. A window goes on while
        # the row is live and its resetAt is in the future; else the inserted row (a new
        # window) replaces it. CASE fixes the order of evaluation, so an expired row is
        # replaced without its text ever being parsed.
        old = f"{t}.value::jsonb"
        going_on = (
            f"CASE WHEN {t}.expires_at < $3 THEN false ELSE ({old}->>'resetAt')::numeric > $3 END"
        )
        # A live row that is not a counter belongs to someone else: no update, no row
        # returned, and count_hit raises instead of overwriting it.
        is_counter = (
            f"CASE WHEN {t}.expires_at < $3 THEN true "
            f"ELSE jsonb_typeof({old}->'hits') = 'number' "
            f"AND ({old}->>'hits') ~ '^-?[0-9]+$' "
            f"AND jsonb_typeof({old}->'resetAt') = 'number' END"
        )
        new_window = """'{"hits":1,"resetAt":' || $2::bigint || '}'"""
        # Fenced writes: one statement ends the lease (if its token still holds it) and
        # writes only when it did. $1 key, $2 token, $3 now, then the write's own.
        ended = (
            f"WITH ended AS (DELETE FROM {leases} WHERE key = $1 AND token = $2 "
            "AND expires_at >= $3 RETURNING 1)"
        )
        keys = pages("key")
        entries = pages("key, value")
        return cls(
            # Concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL: the
            # stores serialise their schema work on one advisory lock per table name.
            lock_schema="SELECT pg_advisory_xact_lock(hashtext($1))",
            create_table=(
                f'CREATE TABLE IF NOT EXISTS {t} (key TEXT COLLATE "C" PRIMARY KEY, '
                "value TEXT NOT NULL, expires_at BIGINT)"
            ),
            # Partial index: rows without expiry cost nothing in it, and a sweep reads
            # only the rows it deletes.
            create_index=(
                f"CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at) "
                "WHERE expires_at IS NOT NULL"
            ),
            create_leases=(
                f'CREATE TABLE IF NOT EXISTS {leases} (key TEXT COLLATE "C" PRIMARY KEY, '
                "token TEXT NOT NULL, expires_at BIGINT NOT NULL)"
            ),
            get=f"SELECT value, expires_at FROM {t} WHERE key = $1",
            has=f"SELECT 1 FROM {t} WHERE key = $1 AND {live}",
            set=(
                f"INSERT INTO {t} (key, value, expires_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, expires_at = excluded.expires_at"
            ),
            delete=f"DELETE FROM {t} WHERE key = $1",
            delete_expired_key=f"DELETE FROM {t} WHERE key = $1 AND expires_at < $2",
            touch=(
                f"UPDATE {t} SET expires_at = $3 WHERE key = $1 "
                "AND (expires_at IS NULL OR expires_at >= $2)"
            ),
            get_and_touch=(
                f"UPDATE {t} SET expires_at = $3 WHERE key = $1 "
                "AND (expires_at IS NULL OR expires_at >= $2) RETURNING value"
            ),
            count_hit=(
                f"INSERT INTO {t} AS {t} (key, value, expires_at) "
                f"VALUES ($1, {new_window}, $2::bigint) "
                "ON CONFLICT (key) DO UPDATE SET "
                f"value = CASE WHEN {going_on} THEN "
                f"""'{{"hits":' || (({old}->>'hits')::bigint + 1) """
                f"""|| ',"resetAt":' || ({old}->>'resetAt') || '}}' """
                "ELSE excluded.value END, "
                f"expires_at = CASE WHEN {going_on} "
                f"THEN ceil(({old}->>'resetAt')::numeric)::bigint "
                "ELSE excluded.expires_at END "
                f"WHERE {is_counter} "
                f"RETURNING ({t}.value::jsonb->>'hits')::bigint, {t}.expires_at"
            ),
            # Batches of expired rows, each locked and rechecked (FOR UPDATE re-reads a
            # row another session rewrote): a rewritten row is not deleted.
            sweep=(
                f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at < $1 "
                "LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ),
            sweep_leases=f"DELETE FROM {leases} WHERE expires_at < $1",
            # Take a free or expired lease: a row back is the lease, none means someone
            # else holds it. $1 key, $2 token, $3 lease end, $4 now.
            take_lease=(
                f"INSERT INTO {leases} AS l (key, token, expires_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (key) DO UPDATE SET "
                "token = excluded.token, expires_at = excluded.expires_at "
                "WHERE l.expires_at < $4 RETURNING 1"
            ),
            # Read after taking, in a statement of its own: its snapshot is newer than
            # the commit of the previous holder's last write (a statement that had to
            # wait for that holder would still see the value from before it).
            read_leased=f"SELECT value, expires_at FROM {t} WHERE key = $1",
            drop_lease=f"DELETE FROM {leases} WHERE key = $1 AND token = $2",
            fenced_set=(
                f"{ended}, written AS (INSERT INTO {t} (key, value, expires_at) "
                "SELECT $1, $4, $5 FROM ended ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, expires_at = excluded.expires_at RETURNING 1) "
                "SELECT count(*) FROM ended"
            ),
            fenced_delete=(
                f"{ended}, gone AS (DELETE FROM {t} WHERE key = $1 "
                "AND EXISTS (SELECT 1 FROM ended) RETURNING 1) SELECT count(*) FROM ended"
            ),
            fenced_touch=(
                f"{ended}, touched AS (UPDATE {t} SET expires_at = $4 WHERE key = $1 "
                "AND (expires_at IS NULL OR expires_at >= $3) "
                "AND EXISTS (SELECT 1 FROM ended) RETURNING 1) SELECT count(*) FROM ended"
            ),
            fenced_nothing=f"{ended} SELECT count(*) FROM ended",
            keys_first=keys[0],
            keys_next=keys[1],
            keys_first_until=keys[2],
            keys_next_until=keys[3],
            entries_first=entries[0],
            entries_next=entries[1],
            entries_first_until=entries[2],
            entries_next_until=entries[3],
        )
