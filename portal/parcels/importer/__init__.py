"""Bulk import of affected parcels: read, clean, stage, merge; rejected rows to a CSV.

``run(batch, source, ...)`` works on any source of rows (a CSV or XLSX reader, or the
API's objects): each row is cleaned (``rows.RowCleaner``), streamed into the staging table
(``staging``: COPY on PostgreSQL, executemany on SQLite) and merged in one set-based pass
(``merge``). Memory stays flat: only one staging batch and the counts are held. The caller
commits (the staging table lives in the caller's transaction).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.db import utcnow
from portal.extensions import db
from portal.parcels.importer import merge, staging
from portal.parcels.importer.rows import RowCleaner, RowError, reason
from portal.parcels.models import AffectedParcel, ImportMode, ImportStatus, ParcelImport
from portal.parcels.notify import notify_changes

PROGRESS_EVERY = 5000
#: Rejected rows shown on the batch page; the CSV holds all of them.
REJECTS_SHOWN = 100


class ImportFailed(ValueError):
    """The whole import was refused (no tracking number column, empty replace list)."""


@dataclass
class Source:
    """Rows to import: ``(line, cells)`` pairs, where the columns are, how far it is."""

    rows: Iterable[tuple[int, object]]
    columns: dict
    progress: Callable[[], float] = lambda: 0.0
    ignored: list[str] = field(default_factory=list)
    #: The rows again from the start (the direct path falls back on a repeated number);
    #: None when the source can be read only once (then the staging path is used).
    again: Callable[[], Iterable[tuple[int, object]]] | None = None


class RejectsWriter:
    """Rejected rows as CSV (line, tracking number, reason), UTF-8 with BOM for Excel."""

    HEADER = ("line", "tracking_number", "reason")

    def __init__(self, path: Path):
        """Open ``path`` for writing."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._file = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.HEADER)

    def add(self, line: int, number: str, why: str) -> None:
        """Record one rejected row."""
        self.count += 1
        self._writer.writerow((line, number, why))

    def close(self) -> None:
        """Flush and close."""
        self._file.close()


def read_rejects(path: str | None, limit: int = REJECTS_SHOWN) -> list[dict]:
    """The first ``limit`` rejected rows of a batch."""
    if not path or not Path(path).exists():
        return []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return [row for _, row in zip(range(limit), reader, strict=False)]


ProgressFn = Callable[[ParcelImport, int, float, str], None]


def _cleaned(source: Source, cleaner: RowCleaner, rejects: RejectsWriter, batch: ParcelImport,
             on_progress: ProgressFn | None, counter: list[int]) -> Iterator[tuple]:
    for line, cells in source.rows:
        counter[0] += 1
        if on_progress is not None and counter[0] % PROGRESS_EVERY == 0:
            on_progress(batch, counter[0], source.progress(), "reading")
        try:
            yield cleaner.clean(line, cells)
        except RowError as error:
            rejects.add(line, cleaner.raw_number(cells), error.reason)


def _direct_possible(conn, batch: ParcelImport, source: Source) -> bool:
    """The first-import shortcut applies: the incident has no parcel at all (nothing to
    merge with or deactivate) and the rows can be read again if it has to be abandoned."""
    if source.again is None or not current_app.config.get("PARCEL_IMPORT_DIRECT", True):
        return False
    return conn.execute(select(AffectedParcel.id).where(
        AffectedParcel.incident_id == batch.incident_id).limit(1)).first() is None


def _run_direct(conn, batch: ParcelImport, source: Source, rejects: RejectsWriter,
                on_progress: ProgressFn | None, counter: list[int]) -> merge.MergeCounts | None:
    """Load the rows straight into ``affected_parcel``; None (and nothing written) when a
    number appears twice, so that the caller merges through the staging table instead."""
    cleaner = RowCleaner(source.columns)
    rows = _cleaned(source, cleaner, rejects, batch, on_progress, counter)
    now = utcnow()
    # the raw driver raises its own IntegrityError (COPY and executemany bypass SQLAlchemy)
    repeated = (IntegrityError, conn.dialect.dbapi.IntegrityError)
    try:
        if staging.is_postgres(conn):
            with conn.begin_nested():
                written = staging.load_direct(conn, rows, batch.incident_id, batch.id, now)
        else:  # SQLite: no savepoint (see notifications.services.savepoints_work)
            written = staging.load_direct(conn, rows, batch.incident_id, batch.id, now)
    except repeated:
        if not staging.is_postgres(conn):
            conn.execute(delete(AffectedParcel).where(
                AffectedParcel.incident_id == batch.incident_id))
        return None
    return merge.MergeCounts(staged=written, inserted=written)


def run(batch: ParcelImport, source: Source, rejects_path: Path,
        on_progress: ProgressFn | None = None) -> ParcelImport:
    """Import ``source`` as ``batch`` (flushes; the caller commits)."""
    if "tracking_number" not in source.columns:
        raise ImportFailed("no_tracking_column")
    conn = db.session.connection()
    replace = batch.mode == ImportMode.REPLACE
    with staging.large_cache(conn):
        counts, counter, rejects = _load(conn, batch, source, rejects_path, on_progress,
                                         replace)
    batch.notified = notify_changes(batch)  # not a column: reported by the audit record
    batch.total_rows = counter[0]
    batch.rows_read = counter[0]
    batch.rejected = rejects.count
    batch.inserted = counts.inserted
    batch.updated = counts.updated
    batch.unchanged = counts.unchanged
    batch.deactivated = counts.deactivated
    batch.rejects_path = str(rejects_path)
    batch.progress = 100
    batch.phase = ""
    batch.status = ImportStatus.DONE
    batch.finished_at = utcnow()
    db.session.flush()
    return batch


def _run_staged(conn, batch: ParcelImport, source: Source, rejects: RejectsWriter,
                on_progress: ProgressFn | None, counter: list[int],
                replace: bool) -> merge.MergeCounts:
    staging.create(conn)
    try:
        portable = current_app.config.get("PARCEL_IMPORT_BULK", "auto") == "portable"
        staging.load(conn, _cleaned(source, RowCleaner(source.columns), rejects, batch,
                                    on_progress, counter), portable=portable)
        if on_progress is not None:
            on_progress(batch, counter[0], 1.0, "merging")
        dups = merge.duplicates(conn)
        for line, number, used in dups:
            rejects.add(line, number, reason("duplicate", value=used))
        if dups:
            merge.drop_lines(conn, [line for line, _n, _u in dups])
        if replace and counter[0] - rejects.count <= 0:
            raise ImportFailed("empty_replace")
        return merge.merge(conn, batch.incident_id, batch.id, replace, utcnow())
    finally:
        rejects.close()
        staging.drop(conn)


def _load(conn, batch: ParcelImport, source: Source, rejects_path: Path,
          on_progress: ProgressFn | None, replace: bool):
    """Clean and write the rows (direct path, else staging and merge): (counts, counter,
    rejects)."""
    counts = None
    if _direct_possible(conn, batch, source):
        rejects = RejectsWriter(rejects_path)
        counter = [0]
        try:
            counts = _run_direct(conn, batch, source, rejects, on_progress, counter)
        finally:
            rejects.close()
        if counts is not None and replace and counts.inserted <= 0:
            raise ImportFailed("empty_replace")
        if counts is None:
            source = Source(source.again(), source.columns, source.progress, source.ignored)
    if counts is None:
        rejects = RejectsWriter(rejects_path)
        counter = [0]
        counts = _run_staged(conn, batch, source, rejects, on_progress, counter, replace)
    return counts, counter, rejects
