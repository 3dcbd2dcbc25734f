"""Parcels: import batches (create, store the upload, run, undo) and API pushes.

Services add and flush; the edge (route, CLI command, task) commits. ``run_stored`` is the
one exception by design: it is the body of the background job and records progress and
the outcome in their own transactions (see ``portal/parcels/tasks.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.db import utcnow
from portal.extensions import db
from portal.incidents.cache import invalidate_after_commit
from portal.incidents.models import Incident
from portal.parcels import importer
from portal.parcels.importer.columns import map_headers
from portal.parcels.importer.readers import ReadError, guess_format, open_reader
from portal.parcels.models import (
    AffectedParcel,
    ImportMode,
    ImportStatus,
    ParcelImport,
)
from portal.references import normalise_reference
from portal.staff import audit

FAILURES = {
    "no_tracking_column": _l("No tracking number column was found. Name it e.g. "
                             "\"tracking_number\" or \"运单号\" (see the template)."),
    "empty_replace": _l("Replace mode needs at least one valid row: an empty list would mark "
                        "every parcel of the incident as no longer affected."),
    "unreadable": _l("The file could not be read as CSV or XLSX."),
    "format": _l("Upload a CSV or XLSX file."),
    "too_big": _l("The file is larger than the limit of %(mb)s MB."),
    "too_many": _l("Send at most %(count)s parcels per request."),
    "not_latest": _l("Only the incident's latest import can be undone; undo the later ones "
                     "first."),
    "busy": _l("Another import of this incident is still running."),
    "internal": _l("The import failed unexpectedly; the file is kept and can be imported "
                   "again."),
}


class ParcelError(ValueError):
    """A refused parcel operation; ``code`` is a key of ``FAILURES``."""

    def __init__(self, code: str, **values):
        """Keep the code and the values of its message."""
        super().__init__(code)
        self.code = code
        self.values = values

    @property
    def message(self) -> str:
        """The reason in the reader's language."""
        return str(FAILURES[self.code]) % self.values if self.values else str(
            FAILURES[self.code])


# --- incidents and batches ----------------------------------------------------------------

def find_incident(reference: str) -> Incident | None:
    """The incident with this reference (any visibility: staff and carriers import early)."""
    code = normalise_reference(reference or "")
    if not code:
        return None
    return db.session.scalar(select(Incident).where(Incident.reference == code))


def import_folder() -> Path:
    """Where uploads and rejected-rows files are kept (``PARCEL_IMPORT_FOLDER``)."""
    folder = current_app.config.get("PARCEL_IMPORT_FOLDER") or str(
        Path(current_app.instance_path) / "parcel_imports")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _batch_folder(batch: ParcelImport) -> Path:
    folder = import_folder() / f"{batch.id:08d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def create_batch(incident: Incident, *, mode: str, source: str, file_name: str = "",
                 file_format: str = "csv", actor_label: str | None = None,
                 created_by_id: int | None = None) -> ParcelImport:
    """Record a new batch (pending)."""
    batch = ParcelImport(
        incident_id=incident.id, mode=ImportMode(mode).value, source=source,
        file_name=(file_name or "")[:255], file_format=file_format,
        status=ImportStatus.PENDING, created_by_id=created_by_id,
        actor_label=(actor_label or audit._context_actor()[1])[:200])
    db.session.add(batch)
    db.session.flush()
    return batch


def store_file(batch: ParcelImport, source: str | Path | object) -> Path:
    """Copy the upload (a path or a file object with ``save``/``read``) into the batch's
    folder, before any job starts, and check its size and format."""
    target = _batch_folder(batch) / f"upload-{uuid.uuid4().hex[:8]}"
    if isinstance(source, str | Path):
        shutil.copyfile(source, target)
    elif hasattr(source, "save"):
        source.save(str(target))
    else:
        with open(target, "wb") as handle:
            shutil.copyfileobj(source, handle)
    size = target.stat().st_size
    limit_mb = int(current_app.config.get("PARCEL_IMPORT_MAX_MB", 512))
    if size > limit_mb * 1024 * 1024:
        target.unlink()
        raise ParcelError("too_big", mb=limit_mb)
    with open(target, "rb") as handle:
        head = handle.read(8192)
    file_format = guess_format(batch.file_name, head)
    if file_format is None:
        target.unlink()
        raise ParcelError("format")
    batch.file_format = file_format
    batch.stored_path = str(target)
    batch.file_size = size
    db.session.flush()
    return target


def runs_in_background(batch: ParcelImport) -> bool:
    """Large files go to the background job (``PARCEL_IMPORT_INLINE_BYTES``)."""
    return batch.file_size > int(current_app.config.get("PARCEL_IMPORT_INLINE_BYTES",
                                                         2_000_000))


def progress_path(batch: ParcelImport) -> Path:
    """The small JSON file holding a running batch's progress."""
    return _batch_folder(batch) / "progress.json"


def report_progress(batch: ParcelImport, rows: int, fraction: float, phase: str) -> None:
    """Write progress to the batch folder (shared with the web process like the upload).

    Not the database: the import's own transaction is still open, and on SQLite a commit
    from another connection would invalidate its snapshot.
    """
    percent = int(fraction * 90) if phase == "reading" else 95
    path = progress_path(batch)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"rows": rows, "progress": percent, "phase": phase}))
    os.replace(temporary, path)


def read_progress(batch: ParcelImport) -> dict:
    """A running batch's progress (rows read, percent, phase), or the stored figures."""
    if batch.status == ImportStatus.RUNNING and batch.stored_path:
        try:
            return json.loads(progress_path(batch).read_text())
        except (OSError, ValueError):
            pass
    return {"rows": batch.rows_read, "progress": batch.progress, "phase": batch.phase}


def execute(batch: ParcelImport, on_progress: importer.ProgressFn | None = None) -> ParcelImport:
    """Import the batch's stored file (flushes; the caller commits)."""
    try:
        reader = open_reader(batch.stored_path, batch.file_format)
    except (ReadError, OSError) as error:
        raise ParcelError("unreadable") from error
    readers = [reader]

    def again():
        readers.append(open_reader(batch.stored_path, batch.file_format))
        return readers[-1].rows()

    try:
        columns, ignored = map_headers(list(reader.headers))
        source = importer.Source(reader.rows(), columns, lambda: readers[-1].progress(),
                                 ignored, again)
        return _run(batch, source, on_progress)
    finally:
        for opened in readers:
            opened.close()


def _run(batch: ParcelImport, source: importer.Source,
         on_progress: importer.ProgressFn | None) -> ParcelImport:
    batch.status = ImportStatus.RUNNING
    batch.started_at = batch.started_at or utcnow()
    try:
        importer.run(batch, source, _batch_folder(batch) / "rejected-rows.csv", on_progress)
    except importer.ImportFailed as error:
        raise ParcelError(str(error)) from error
    audit.record("parcels.imported", "parcel_import", str(batch.id),
                 actor_label=batch.actor_label, incident=batch.incident.reference,
                 mode=batch.mode, source=batch.source, file=batch.file_name,
                 rows=batch.total_rows, inserted=batch.inserted, updated=batch.updated,
                 unchanged=batch.unchanged, rejected=batch.rejected,
                 deactivated=batch.deactivated, notified=getattr(batch, "notified", 0))
    invalidate_after_commit()
    return batch


def import_items(incident: Incident, items: Iterable[dict], mode: str = ImportMode.ADD,
                 source: str = "api") -> ParcelImport:
    """Import parcels given as objects (the API): keys are the column names of the file
    format (``tracking_number``, ``situation``, ``recipient_phone``...)."""
    items = list(items)
    limit = int(current_app.config.get("PARCEL_API_MAX_ITEMS", 10000))
    if len(items) > limit:
        raise ParcelError("too_many", count=limit)
    batch = create_batch(incident, mode=mode, source=source, file_name="(api)",
                         file_format="json")
    keys = {key for item in items if isinstance(item, dict) for key in item}
    columns, _ignored = map_headers(sorted(keys))
    by_key = {name: sorted(keys)[index] for name, index in columns.items()}
    def rows():
        return ((index, item if isinstance(item, dict) else {})
                for index, item in enumerate(items, start=1))

    return _run(batch, importer.Source(rows(), by_key, again=rows), None)


def mark_failed(batch_id: int, code: str, detail: str = "") -> None:
    """Record a failed batch (after the import's transaction was rolled back)."""
    batch = db.session.get(ParcelImport, batch_id)
    if batch is None:
        return
    batch.status = ImportStatus.FAILED
    batch.finished_at = utcnow()
    batch.phase = ""
    batch.error = (code + (": " + detail if detail else ""))[:2000]
    audit.record("parcels.import_failed", "parcel_import", str(batch.id),
                 actor_label=batch.actor_label, error=batch.error)
    db.session.flush()


def failure_message(batch: ParcelImport) -> str:
    """The failure of a batch in the reader's language."""
    code = (batch.error or "").split(":", 1)[0]
    if code in FAILURES:
        try:
            return str(FAILURES[code]) % {"mb": current_app.config.get(
                "PARCEL_IMPORT_MAX_MB", 512), "count": 0}
        except (KeyError, ValueError):
            return str(FAILURES[code])
    return str(FAILURES["internal"])


# --- undo ---------------------------------------------------------------------------------

def latest_batch(incident_id: int) -> ParcelImport | None:
    """The incident's latest batch that is not undone or failed."""
    return db.session.scalar(
        select(ParcelImport).where(
            ParcelImport.incident_id == incident_id,
            ParcelImport.status.in_([ImportStatus.DONE, ImportStatus.PENDING,
                                     ImportStatus.RUNNING]))
        .order_by(ParcelImport.id.desc()).limit(1))


def can_undo(batch: ParcelImport) -> bool:
    """True for a finished batch that is its incident's latest."""
    if batch.status != ImportStatus.DONE:
        return False
    latest = latest_batch(batch.incident_id)
    return latest is not None and latest.id == batch.id


def undo(batch: ParcelImport, actor_label: str | None = None) -> tuple[int, int]:
    """Undo a batch: restore what it changed, delete what it created. Returns (restored,
    deleted)."""
    if not can_undo(batch):
        latest = latest_batch(batch.incident_id)
        busy = latest is not None and latest.status != ImportStatus.DONE
        raise ParcelError("busy" if busy else "not_latest")
    restored, deleted = importer.merge.undo(db.session.connection(), batch.incident_id,
                                            batch.id)
    batch.status = ImportStatus.UNDONE
    batch.undone_at = utcnow()
    batch.undone_by = (actor_label or audit._context_actor()[1])[:200]
    db.session.flush()
    db.session.expire_all()
    audit.record("parcels.import_undone", "parcel_import", str(batch.id),
                 actor_label=actor_label, restored=restored, deleted=deleted)
    invalidate_after_commit()
    return restored, deleted


# --- staff read side ----------------------------------------------------------------------

def batches(incident_id: int, limit: int = 50) -> list[ParcelImport]:
    """The incident's batches, newest first."""
    return list(db.session.scalars(
        select(ParcelImport).where(ParcelImport.incident_id == incident_id)
        .order_by(ParcelImport.id.desc()).limit(limit)))


def recent_batches(limit: int = 10) -> list[ParcelImport]:
    """The latest batches of every incident (dashboard panel)."""
    return list(db.session.scalars(
        select(ParcelImport).order_by(ParcelImport.id.desc()).limit(limit)))


def counts_by_situation(incident_id: int) -> list[tuple[str | None, int]]:
    """Active parcels of the incident per situation."""
    rows = db.session.execute(
        select(AffectedParcel.situation, func.count()).where(
            AffectedParcel.incident_id == incident_id, AffectedParcel.active.is_(True))
        .group_by(AffectedParcel.situation).order_by(func.count().desc()))
    return [(situation, count) for situation, count in rows]


ProgressCallback = Callable[[ParcelImport, int, float, str], None]
