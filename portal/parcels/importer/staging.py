"""The staging table: rows land here first, then one set-based merge moves them.

PostgreSQL: a ``TEMP`` table dropped at commit, filled with ``COPY ... FROM STDIN``
(psycopg's streaming copy, so the parsing in Python and the loading in the server overlap).
SQLite: a ``TEMP`` table filled with batched ``executemany``. Both take rows from an
iterator and never hold more than one batch in memory.

``load_direct`` is the first-import shortcut: when the incident has no parcel yet, there is
nothing to merge with, so the rows go straight into ``affected_parcel`` (the same COPY or
executemany, with the batch's constant columns added) and the server's index and
constraint work overlaps the cleaning in Python instead of following it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from itertools import islice

from sqlalchemy.engine import Connection

from portal.parcels.importer.rows import STAGE_COLUMNS

TABLE = "parcel_stage"
BATCH_ROWS = 5000
#: SQLite page cache while an import writes (KiB): the four indexes of a million-row
#: incident outgrow the default 2 MB and every insert then reads pages back (25% slower).
SQLITE_CACHE_KIB = 65536

_PG_TYPES = {"line": "integer", "expected_delivery": "date", "last_seen_at": "timestamptz"}


def is_postgres(conn: Connection) -> bool:
    """True on PostgreSQL (the COPY path)."""
    return conn.dialect.name == "postgresql"


def create(conn: Connection) -> None:
    """Create an empty staging table for this transaction."""
    if is_postgres(conn):
        columns = ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in STAGE_COLUMNS)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {TABLE} ({columns}) ON COMMIT DROP")
    else:
        columns = ", ".join(
            f"{c} {'INTEGER' if c == 'line' else 'TEXT'}" for c in STAGE_COLUMNS)
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{TABLE}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {TABLE} ({columns})")


def drop(conn: Connection) -> None:
    """Drop the staging table (PostgreSQL also drops it at commit)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def load(conn: Connection, rows: Iterable[tuple], portable: bool = False) -> int:
    """Stream ``rows`` (tuples in ``STAGE_COLUMNS`` order) into the staging table.

    ``portable`` forces batched executemany on PostgreSQL too (tests compare the paths).
    """
    if is_postgres(conn) and not portable:
        return _copy(conn, rows)
    return _executemany(conn, rows)


def _copy(conn: Connection, rows: Iterable[tuple]) -> int:
    statement = f"COPY {TABLE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
    return _copy_text(conn, statement, (f"{row[0]}\t{_copy_fields(row)}\n" for row in rows))


#: COPY's text format: backslash, tab, newline and carriage return are escaped.
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
COPY_BATCH = 2000


def _copy_fields(row: tuple) -> str:
    """A staging tuple's values after ``line``, tab-separated in COPY's text format.

    Formatted here rather than by psycopg's ``write_row`` (per value dumpers, the larger
    part of the client's COPY cost); the types are known: text, a date, an aware time,
    hex digests. The number is letters and digits only. Times repeat (minute resolution),
    so their text is remembered.
    """
    day, seen, location = row[_DAY], row[_SEEN], row[_DAY + 1]
    if seen is not None:
        text = _TIMES.get(seen)
        if text is None:
            text = seen.isoformat(" ")
            if len(_TIMES) < 4096:
                _TIMES[seen] = text
        seen = text
    return "\t".join((
        row[1], *[_NULL if v is None else _escaped(v) for v in row[2:_DAY]],
        _NULL if day is None else day.isoformat(),
        _NULL if location is None else _escaped(location),
        _NULL if seen is None else seen,
        *[_NULL if v is None else v for v in row[_SEEN + 1:]]))


_TIMES: dict = {}
_SPECIAL = re.compile(r"[\\\t\n\r]")


def _escaped(value: str) -> str:
    return value.translate(_ESCAPE) if _SPECIAL.search(value) else value


def _copy_text(conn: Connection, statement: str, lines: Iterable[str]) -> int:
    """Stream text-format lines to ``COPY ... FROM STDIN``, ``COPY_BATCH`` per write."""
    raw = conn.connection.driver_connection
    count = 0
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        iterator = iter(lines)
        while batch := list(islice(iterator, COPY_BATCH)):
            copy.write("".join(batch))
            count += len(batch)
    return count


DIRECT_COLUMNS = ("incident_id", *STAGE_COLUMNS[1:], "active", "created_batch_id",
                  "batch_id", "created_at", "updated_at")


def load_direct(conn: Connection, rows: Iterable[tuple], incident_id: int, batch_id: int,
                now: datetime) -> int:
    """Stream staging tuples straight into ``affected_parcel`` as new parcels of the batch.

    Only for an incident without parcels; a number seen twice raises the unique index's
    ``IntegrityError`` (the caller then takes the staging path). Returns the rows written.
    """
    columns = ", ".join(DIRECT_COLUMNS)
    if is_postgres(conn):
        stamp = now.isoformat(" ")
        head, tail = f"{incident_id}\t", f"\tt\t{batch_id}\t{batch_id}\t{stamp}\t{stamp}\n"
        return _copy_text(conn, f"COPY affected_parcel ({columns}) FROM STDIN",
                          (head + _copy_fields(row) + tail for row in rows))
    stamp = _sqlite_value(now)
    tail = (1, batch_id, batch_id, stamp, stamp)
    statement = (f"INSERT INTO affected_parcel ({columns}) "  # noqa: S608
                 f"VALUES ({', '.join('?' for _ in DIRECT_COLUMNS)})")
    return _batched(conn, statement, ((incident_id, *row[1:], *tail)
                                      for row in _sqlite_rows(rows)))


def _batched(conn: Connection, statement: str, rows: Iterable[tuple]) -> int:
    cursor = conn.connection.driver_connection.cursor()
    count = 0
    iterator = iter(rows)
    try:
        while batch := list(islice(iterator, BATCH_ROWS)):
            cursor.executemany(statement, batch)
            count += len(batch)
    finally:
        cursor.close()
    return count


@contextmanager
def large_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a larger page cache for the import's writes (restored afterwards)."""
    if is_postgres(conn):
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def _sqlite_value(value):
    # The same text forms SQLAlchemy stores for Date and (naive UTC) DateTime on SQLite,
    # so staged values compare equal to stored ones.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


_DAY = STAGE_COLUMNS.index("expected_delivery")
_SEEN = STAGE_COLUMNS.index("last_seen_at")


def _sqlite_rows(rows: Iterable[tuple]) -> Iterator[tuple]:
    # Only the date and the time need converting (``_sqlite_value``); a slice is cheaper
    # than a call per value on the hot path.
    for row in rows:
        day, seen = row[_DAY], row[_SEEN]
        if day is None and seen is None:
            yield row
            continue
        yield (*row[:_DAY], None if day is None else day.isoformat(), *row[_DAY + 1:_SEEN],
               None if seen is None else seen.astimezone(UTC).replace(tzinfo=None)
               .isoformat(" ", "microseconds"), *row[_SEEN + 1:])


def _executemany(conn: Connection, rows: Iterable[tuple]) -> int:
    mark = "%s" if is_postgres(conn) else "?"
    statement = (f"INSERT INTO {TABLE} ({', '.join(STAGE_COLUMNS)}) "  # noqa: S608
                 f"VALUES ({', '.join(mark for _ in STAGE_COLUMNS)})")
    return _batched(conn, statement, rows if is_postgres(conn) else _sqlite_rows(rows))


def index_numbers(conn: Connection) -> None:
    """Index the staged numbers (SQLite needs it for the anti-join of replace mode)."""
    if not is_postgres(conn):
        conn.exec_driver_sql(f"CREATE INDEX temp.ix_{TABLE}_number ON {TABLE} (tracking_number)")
    else:
        conn.exec_driver_sql(f"ANALYZE {TABLE}")
