"""Incidents, their public updates, internal notes, affected areas and update templates.

Translatable text uses the foundation's ``TranslatedText`` (zh_Hans, zh_Hant, en). Times
are aware UTC (``UTCDateTime``). Other features reference ``incident.id`` (parcels, cases).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.content import TranslatedText
from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class IncidentType(enum.StrEnum):
    """What happened."""

    WEATHER = "weather"
    FIRE = "fire"
    TRAFFIC_ACCIDENT = "traffic_accident"
    EQUIPMENT_FAILURE = "equipment_failure"
    SYSTEM_FAILURE = "system_failure"
    PUBLIC_HEALTH = "public_health"
    OTHER = "other"


class Severity(enum.StrEnum):
    """How bad it is; ``RANK`` orders the home page (most severe first)."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.CRITICAL: 3, Severity.MAJOR: 2, Severity.MINOR: 1}


class State(enum.StrEnum):
    """Statuspage's incident states."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Visibility(enum.StrEnum):
    """Draft (staff only, not yet announced), published, or drill (staff only, forever)."""

    DRAFT = "draft"
    PUBLISHED = "published"
    DRILL = "drill"


class UpdateStatus(enum.StrEnum):
    """An update is drafted by a responder and published (or withdrawn) by a commander."""

    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class AreaKind(enum.StrEnum):
    """Kinds of affected area."""

    REGION = "region"  # province / city
    HUB = "hub"  # hub or sorting centre
    SERVICE = "service"  # service line


class Incident(db.Model):
    """An incident the courier tells customers about."""

    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_public", "visibility", "resolved_at"),
        Index("ix_incident_active", "visibility", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[dict] = mapped_column(TranslatedText, default=dict)
    summary: Mapped[dict] = mapped_column(TranslatedText, default=dict)
    type: Mapped[str] = mapped_column(String(30), default=IncidentType.OTHER)
    severity: Mapped[str] = mapped_column(String(10), default=Severity.MINOR)
    state: Mapped[str] = mapped_column(String(20), default=State.INVESTIGATING)
    visibility: Mapped[str] = mapped_column(String(10), default=Visibility.DRAFT)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expected_recovery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_public_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stale_alert_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    commander_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    # What the courier offers everyone affected (free re-delivery, fee waiver...), and the
    # machine-readable policy the claims feature reads. Both optional.
    standing_offer: Mapped[dict | None] = mapped_column(TranslatedText)
    standing_offer_policy: Mapped[dict | None] = mapped_column(JSON)

    areas: Mapped[list[IncidentArea]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentArea.id")
    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident", cascade="all, delete-orphan",
        order_by="IncidentUpdate.id")
    notes: Mapped[list[IncidentNote]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentNote.id")

    @property
    def is_active(self) -> bool:
        """True until resolved."""
        return self.state != State.RESOLVED

    @property
    def is_public(self) -> bool:
        """True when customers may see it."""
        return self.visibility == Visibility.PUBLISHED

    @property
    def severity_rank(self) -> int:
        """3 for critical, 2 major, 1 minor."""
        return SEVERITY_RANK.get(Severity(self.severity), 0)

    def __repr__(self) -> str:
        return f"<Incident {self.reference} {self.state} {self.visibility}>"


class IncidentArea(db.Model):
    """One affected area of an incident: a province or city, a hub, or a service line."""

    __tablename__ = "incident_area"
    __table_args__ = (Index("ix_incident_area_code", "kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default=AreaKind.REGION)
    code: Mapped[str] = mapped_column(String(120))  # stable key used by the area filter
    name: Mapped[dict] = mapped_column(TranslatedText, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="areas")


class IncidentUpdate(db.Model):
    """A progress update; public once published, shown as withdrawn or corrected after."""

    __tablename__ = "incident_update"
    __table_args__ = (
        Index("ix_incident_update_timeline", "incident_id", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))
    body: Mapped[dict] = mapped_column(TranslatedText, default=dict)  # Markdown source
    status: Mapped[str] = mapped_column(String(10), default=UpdateStatus.DRAFT)
    notify: Mapped[bool] = mapped_column(default=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    correction_note: Mapped[dict | None] = mapped_column(TranslatedText)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawal_reason: Mapped[dict | None] = mapped_column(TranslatedText)

    incident: Mapped[Incident] = relationship(back_populates="updates")


class IncidentNote(db.Model):
    """An internal note (field report, decision); never shown publicly."""

    __tablename__ = "incident_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="notes")


class UpdateTemplate(db.Model):
    """Standard wording for an update in a given state, in three languages."""

    __tablename__ = "incident_update_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(120))
    body: Mapped[dict] = mapped_column(TranslatedText, default=dict)
    is_default: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
