"""Affected parcels, their history of changes, and the import batches that load them.

- ``AffectedParcel``: one row per (incident, normalised tracking number). Phones are never
  stored: only the foundation's ``phone_tail_digest(phone, tracking_number)`` of the
  recipient's and sender's last 4 digits. ``active`` turns false when a *replace* import no
  longer lists the parcel. ``created_batch_id`` / ``batch_id`` say which import created it
  and which changed it last.
- ``ParcelHistory``: one row per change made by an import (updated, deactivated,
  reactivated) holding the values *before* the change (``prev_*``) and the new situation
  and date for display. The state at a point in time is therefore the ``prev_*`` of the
  next change, or the parcel itself; undoing a batch copies its rows' ``prev_*`` back.
  A first import writes no history (the parcel row is its first state), which keeps bulk
  loads cheap.
- ``ParcelImport``: a recorded batch (who, when, file, mode, counts, progress, the stored
  upload and the rejected-rows CSV), undoable while it is the incident's latest.

The PostgreSQL bulk path stages rows in a temporary table created at import time
(``importer/staging.py``); it needs no migration.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime, utcnow
from portal.extensions import db

# 64-bit ids on PostgreSQL (millions of rows per incident), INTEGER PRIMARY KEY on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Situation(enum.StrEnum):
    """What happened to an affected parcel."""

    DELAYED = "delayed"
    HELD = "held"
    REROUTED = "rerouted"
    DAMAGED = "damaged"
    LOST = "lost"
    RETURNED = "returned"  # returned to sender
    DELIVERED = "delivered"


class ImportMode(enum.StrEnum):
    """``add`` upserts the rows; ``replace`` also deactivates parcels missing from them."""

    ADD = "add"
    REPLACE = "replace"


class ImportStatus(enum.StrEnum):
    """Life of a batch."""

    PENDING = "pending"  # stored, waiting for the background job
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNDONE = "undone"


class HistoryKind(enum.StrEnum):
    """What a history row records."""

    UPDATED = "updated"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"


#: Columns an import may set on a parcel (besides the keys), in file/template order.
PARCEL_FIELDS = (
    "carrier", "service_line", "situation", "origin_province", "origin_city",
    "destination_province", "destination_city", "expected_delivery", "last_location",
    "last_seen_at", "recipient_tail", "sender_tail",
)


class ParcelImport(db.Model):
    """One import: file upload, CLI run or API push."""

    __tablename__ = "parcel_import"
    __table_args__ = (Index("ix_parcel_import_incident_created", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(10), default=ImportMode.ADD)
    source: Mapped[str] = mapped_column(String(10), default="upload")  # upload | cli | api
    status: Mapped[str] = mapped_column(String(10), default=ImportStatus.PENDING, index=True)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    file_format: Mapped[str] = mapped_column(String(10), default="csv")  # csv | xlsx | json
    stored_path: Mapped[str | None] = mapped_column(String(500))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    rejects_path: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(200))
    # Progress while running: rows read so far and percent of the file read.
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    phase: Mapped[str] = mapped_column(String(20), default="")  # reading | merging
    # Counts when done.
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    deactivated: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    incident = relationship("Incident")

    @property
    def finished(self) -> bool:
        """True once the batch will not change any more by itself."""
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.UNDONE)


class AffectedParcel(db.Model):
    """A parcel on an incident's affected list."""

    __tablename__ = "affected_parcel"
    __table_args__ = (
        UniqueConstraint("incident_id", "tracking_number"),
        Index("ix_affected_parcel_tracking_number", "tracking_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    tracking_number: Mapped[str] = mapped_column(String(40))
    carrier: Mapped[str | None] = mapped_column(String(60))
    service_line: Mapped[str | None] = mapped_column(String(60))
    situation: Mapped[str | None] = mapped_column(String(20))
    origin_province: Mapped[str | None] = mapped_column(String(60))
    origin_city: Mapped[str | None] = mapped_column(String(60))
    destination_province: Mapped[str | None] = mapped_column(String(60))
    destination_city: Mapped[str | None] = mapped_column(String(60))
    expected_delivery: Mapped[date | None] = mapped_column(Date)
    last_location: Mapped[str | None] = mapped_column(String(120))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipient_tail: Mapped[str | None] = mapped_column(String(64))
    sender_tail: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The import batches that listed and last changed the parcel. Plain columns, not
    # foreign keys: the per-row checks were most of a bulk import's database work, and the
    # batch table is append-only, written by the importer in the same transaction.
    created_batch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    batch_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident = relationship("Incident")


class ParcelHistory(db.Model):
    """A change made to a parcel by an import: the values before it, and the new headline."""

    __tablename__ = "parcel_history"
    __table_args__ = (Index("ix_parcel_history_parcel_id", "parcel_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("affected_parcel.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("parcel_import.id", ondelete="CASCADE"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(12))
    situation: Mapped[str | None] = mapped_column(String(20))
    expected_delivery: Mapped[date | None] = mapped_column(Date)
    prev_carrier: Mapped[str | None] = mapped_column(String(60))
    prev_service_line: Mapped[str | None] = mapped_column(String(60))
    prev_situation: Mapped[str | None] = mapped_column(String(20))
    prev_origin_province: Mapped[str | None] = mapped_column(String(60))
    prev_origin_city: Mapped[str | None] = mapped_column(String(60))
    prev_destination_province: Mapped[str | None] = mapped_column(String(60))
    prev_destination_city: Mapped[str | None] = mapped_column(String(60))
    prev_expected_delivery: Mapped[date | None] = mapped_column(Date)
    prev_last_location: Mapped[str | None] = mapped_column(String(120))
    prev_last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prev_recipient_tail: Mapped[str | None] = mapped_column(String(64))
    prev_sender_tail: Mapped[str | None] = mapped_column(String(64))
    prev_active: Mapped[bool] = mapped_column(Boolean, default=True)
    prev_batch_id: Mapped[int | None] = mapped_column(Integer)
    prev_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
