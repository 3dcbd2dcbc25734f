# ruff: noqa: S608 - SQL is assembled from this module's column constants; values are bound
"""Set-based merge of the staging table into ``affected_parcel``, replace mode and undo.

The same SQL runs on both databases except for the null-safe comparison (``IS DISTINCT
FROM`` on PostgreSQL, ``IS NOT`` on SQLite). Empty staged values keep what is stored.
Every change writes a ``parcel_history`` row with the values before it, so an import can
be undone and the situation history shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from portal.db import UTCDateTime
from portal.parcels.importer.staging import TABLE, index_numbers, is_postgres
from portal.parcels.models import PARCEL_FIELDS

MERGED = ("carrier", "service_line", "situation", "origin_province", "origin_city",
          "destination_province", "destination_city", "expected_delivery", "last_location",
          "last_seen_at", "recipient_tail", "sender_tail")
assert set(MERGED) == set(PARCEL_FIELDS)

_PREV = ", ".join(f"prev_{f}" for f in MERGED)
_HISTORY_COLUMNS = (f"parcel_id, batch_id, recorded_at, kind, situation, expected_delivery, "
                    f"{_PREV}, prev_active, prev_batch_id, prev_updated_at")


@dataclass
class MergeCounts:
    """What a merge did."""

    staged: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0


def _params(sql: str, incident_id: int, batch_id: int, now: datetime | None = None):
    statement = text(sql)
    binds = []
    if ":inc" in sql:
        binds.append(bindparam("inc", incident_id))
    if ":batch" in sql:
        binds.append(bindparam("batch", batch_id))
    if now is not None and ":now" in sql:
        binds.append(bindparam("now", now, type_=UTCDateTime))
    return statement.bindparams(*binds)


def _changed(conn: Connection, new: str, old: str) -> str:
    distinct = "IS DISTINCT FROM" if is_postgres(conn) else "IS NOT"
    parts = [f"NOT {old}.active"]
    parts += [f"({new}.{f} IS NOT NULL AND {new}.{f} {distinct} {old}.{f})" for f in MERGED]
    return "(" + " OR ".join(parts) + ")"


def duplicates(conn: Connection) -> list[tuple[int, str, int]]:
    """Staged lines whose number appears again later: (line, number, line used)."""
    rows = conn.execute(text(
        f"SELECT s.line, s.tracking_number, m.max_line FROM {TABLE} s JOIN ("
        f"SELECT tracking_number, max(line) AS max_line FROM {TABLE} "
        f"GROUP BY tracking_number HAVING count(*) > 1) m "
        f"ON m.tracking_number = s.tracking_number WHERE s.line < m.max_line "
        f"ORDER BY s.line"))
    return [(r[0], r[1], r[2]) for r in rows]


def drop_lines(conn: Connection, lines: list[int]) -> None:
    """Remove staged lines (earlier duplicates)."""
    for start in range(0, len(lines), 500):
        chunk = lines[start:start + 500]
        conn.execute(text(f"DELETE FROM {TABLE} WHERE line IN :lines").bindparams(
            bindparam("lines", chunk, expanding=True)))


def merge(conn: Connection, incident_id: int, batch_id: int, replace: bool,
          now: datetime) -> MergeCounts:
    """Upsert the staged rows into the incident's parcels; in replace mode deactivate the
    incident's active parcels that are not staged. Returns the counts."""
    counts = MergeCounts()
    counts.staged = conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
    index_numbers(conn)
    join = (f"FROM {TABLE} s JOIN affected_parcel p "
            f"ON p.incident_id = :inc AND p.tracking_number = s.tracking_number")
    matched = conn.execute(_params(f"SELECT count(*) {join}", incident_id, batch_id)
                           ).scalar_one()
    prev = ", ".join(f"p.{f}" for f in MERGED)
    history = conn.execute(_params(
        f"INSERT INTO parcel_history ({_HISTORY_COLUMNS}) "
        f"SELECT p.id, :batch, :now, CASE WHEN p.active THEN 'updated' ELSE 'reactivated' END, "
        f"COALESCE(s.situation, p.situation), COALESCE(s.expected_delivery, "
        f"p.expected_delivery), {prev}, p.active, p.batch_id, p.updated_at "
        f"{join} WHERE {_changed(conn, 's', 'p')}", incident_id, batch_id, now))
    counts.updated = history.rowcount
    columns = ", ".join(MERGED)
    staged = ", ".join(f"s.{f}" for f in MERGED)
    updates = ", ".join(f"{f} = COALESCE(excluded.{f}, affected_parcel.{f})" for f in MERGED)
    true = "true" if is_postgres(conn) else "1"
    conn.execute(_params(
        f"INSERT INTO affected_parcel (incident_id, tracking_number, {columns}, active, "
        f"created_batch_id, batch_id, created_at, updated_at) "
        f"SELECT :inc, s.tracking_number, {staged}, {true}, :batch, :batch, :now, :now "
        f"FROM {TABLE} s WHERE true "
        f"ON CONFLICT (incident_id, tracking_number) DO UPDATE SET {updates}, "
        f"active = {true}, batch_id = excluded.batch_id, updated_at = excluded.updated_at "
        f"WHERE {_changed(conn, 'excluded', 'affected_parcel')}",
        incident_id, batch_id, now))
    counts.inserted = counts.staged - matched
    counts.unchanged = matched - counts.updated
    if replace:
        counts.deactivated = deactivate_missing(conn, incident_id, batch_id, now)
    return counts


def deactivate_missing(conn: Connection, incident_id: int, batch_id: int,
                       now: datetime) -> int:
    """Mark the incident's active parcels that are not staged as no longer affected."""
    missing = (f"p.incident_id = :inc AND p.active AND NOT EXISTS "
               f"(SELECT 1 FROM {TABLE} s WHERE s.tracking_number = p.tracking_number)")
    prev = ", ".join(f"p.{f}" for f in MERGED)
    false = "false" if is_postgres(conn) else "0"
    result = conn.execute(_params(
        f"INSERT INTO parcel_history ({_HISTORY_COLUMNS}) "
        f"SELECT p.id, :batch, :now, 'deactivated', p.situation, p.expected_delivery, "
        f"{prev}, p.active, p.batch_id, p.updated_at FROM affected_parcel p WHERE {missing}",
        incident_id, batch_id, now))
    conn.execute(_params(
        f"UPDATE affected_parcel AS p SET active = {false}, batch_id = :batch, "
        f"updated_at = :now WHERE {missing}", incident_id, batch_id, now))
    return result.rowcount


def undo(conn: Connection, incident_id: int, batch_id: int) -> tuple[int, int]:
    """Reverse a batch: restore the values before its changes, delete what it created.

    Only correct for the incident's latest batch (the caller checks). Returns (restored,
    deleted).
    """
    restore = ", ".join(f"{f} = h.prev_{f}" for f in MERGED)
    restored = conn.execute(_params(
        f"UPDATE affected_parcel AS p SET {restore}, active = h.prev_active, "
        f"batch_id = h.prev_batch_id, updated_at = h.prev_updated_at "
        f"FROM parcel_history AS h WHERE h.batch_id = :batch AND h.parcel_id = p.id "
        f"AND p.incident_id = :inc", incident_id, batch_id)).rowcount
    conn.execute(_params("DELETE FROM parcel_history WHERE batch_id = :batch",
                         incident_id, batch_id))
    deleted = conn.execute(_params(
        "DELETE FROM affected_parcel WHERE created_batch_id = :batch AND incident_id = :inc",
        incident_id, batch_id)).rowcount
    return restored, deleted
