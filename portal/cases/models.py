"""Cases (complaints, compensation claims, enquiries, call-back requests) and the
compensation policy they are measured against.

- ``Case``: one customer matter with a public reference, the customer's contact details
  (phone in E.164 plus the foundation's ``phone_tail_digest(phone, reference)`` for the
  status page), the parcel, the incident, the amounts in integer **fen** (1/100 yuan, no
  floats anywhere), the policy version in force when it was filed, the legal clock (calendar
  days) and the decision summary. The queues feature adds its own columns (queue,
  assignee, priority, SLA) in a later migration.
- ``CaseMessage``: the conversation: customer messages, staff replies (public) and
  internal notes (never shown to the customer). A message that came from a form
  submission carries that submission's token (unique), so a resubmitted form is found.
- ``CaseEvidence``: uploaded files. A file uploaded with a form that came back with errors
  is kept under the submission's token (``draft_token``) with no case yet.
- ``CaseDecision``: every step of the compensation decision (suggested, offered,
  accepted, declined, paid, withdrawn) with who and why; the case keeps the latest values.
- ``CaseEvent``: the case's history (state changes, appended submissions, merges...).
- ``CaseRating``: the customer's satisfaction rating after closing (one per case).
- ``PolicyVersion`` / ``PolicyRule``: the compensation rule table, versioned with an
  effective date; a case keeps the version in force when it was filed.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.content import TranslatedText
from portal.db import UTCDateTime, utcnow
from portal.extensions import db

# The parcels table uses 64-bit ids on PostgreSQL; a reference to it must match.
BigId = BigInteger().with_variant(Integer, "sqlite")


class CaseKind(enum.StrEnum):
    """What the customer asks for."""

    CLAIM = "claim"  # compensation claim
    COMPLAINT = "complaint"
    ENQUIRY = "enquiry"
    CALLBACK = "callback"  # call-back request


class CaseType(enum.StrEnum):
    """What happened (WeChat's express complaint categories, refined)."""

    DELAY = "delay"
    LOSS = "loss"
    DAMAGE = "damage"  # damaged or short delivery
    WRONG_DELIVERY = "wrong_delivery"
    ATTITUDE = "complaint_attitude"  # service attitude
    NOT_TO_DOOR = "complaint_not_to_door"  # not delivered to the door
    SIGNED_WITHOUT_CONSENT = "complaint_signed_without_consent"
    OTHER = "other"


#: Types compensation can be claimed for (they have policy rules).
CLAIM_TYPES = (CaseType.DELAY, CaseType.LOSS, CaseType.DAMAGE, CaseType.WRONG_DELIVERY)
#: Service complaint subtypes.
COMPLAINT_TYPES = (CaseType.ATTITUDE, CaseType.NOT_TO_DOOR, CaseType.SIGNED_WITHOUT_CONSENT)


class CaseState(enum.StrEnum):
    """Life of a case. ``resolved`` reopens when the customer writes within the window."""

    NEW = "new"
    OPEN = "open"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: States in which a case counts as open (a new submission is appended to it).
OPEN_STATES = (CaseState.NEW, CaseState.OPEN, CaseState.WAITING_CUSTOMER)


class CaseSource(enum.StrEnum):
    """How the case reached the courier (drives the legal clock)."""

    WEB = "web"
    PHONE = "phone"  # entered by staff from a call
    POSTAL_AUTHORITY = "postal_12305"  # forwarded by the postal authority (12305)
    SMS = "sms"


class Channel(enum.StrEnum):
    """The customer's preferred way to be contacted."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"


class DecisionStep(enum.StrEnum):
    """Steps of a compensation decision."""

    SUGGESTED = "suggested"  # computed from the policy
    OFFERED = "offered"  # offered to the customer by staff
    ACCEPTED = "accepted"
    DECLINED = "declined"
    PAID = "paid"
    WITHDRAWN = "withdrawn"


class MessageKind(enum.StrEnum):
    """Who wrote a message and who may read it."""

    CUSTOMER = "customer"
    STAFF_REPLY = "staff_reply"  # public
    INTERNAL_NOTE = "internal_note"  # staff only
    SYSTEM = "system"  # public notice written by the portal


class EvidenceState(enum.StrEnum):
    """Processing of an uploaded file."""

    PENDING = "pending"  # stored as received, waiting for re-encoding
    READY = "ready"  # re-encoded (images) or checked (PDF)
    FAILED = "failed"  # could not be processed; staff see why


class Formula(enum.StrEnum):
    """How a policy rule computes the amount."""

    FREIGHT_REFUND = "freight_refund"  # the freight paid
    ACTUAL_VALUE_CAPPED = "actual_value_capped"  # value, capped at N x freight and/or a flat cap
    DECLARED_VALUE = "declared_value"  # up to the declared (insured) value
    PROPORTIONAL = "proportional"  # share of the value that was damaged or missing
    FLAT = "flat"  # a fixed amount
    NONE = "none"  # no compensation by policy (staff decide)


class PolicyVersion(db.Model):
    """A version of the compensation policy; in force from ``effective_from`` once
    published."""

    __tablename__ = "case_policy_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    force_majeure: Mapped[bool] = mapped_column(Boolean, default=False)
    # Public summary of the policy (and of what changed), three languages.
    summary: Mapped[dict] = mapped_column(TranslatedText, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rules: Mapped[list[PolicyRule]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="PolicyRule.id")

    @property
    def is_published(self) -> bool:
        """True once published (it applies from ``effective_from``)."""
        return self.published_at is not None


class PolicyRule(db.Model):
    """One row of the rule table: claim type x insured x service line -> formula."""

    __tablename__ = "case_policy_rule"
    __table_args__ = (
        UniqueConstraint("version_id", "claim_type", "insured", "service_line"),
        CheckConstraint("freight_multiple IS NULL OR freight_multiple >= 0",
                        name="multiple_not_negative"),
        CheckConstraint("cap_fen IS NULL OR cap_fen >= 0", name="cap_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("case_policy_version.id", ondelete="CASCADE"), index=True)
    claim_type: Mapped[str] = mapped_column(String(40))
    insured: Mapped[bool] = mapped_column(Boolean, default=False)
    service_line: Mapped[str] = mapped_column(String(40), default="*")  # "*" = any
    formula: Mapped[str] = mapped_column(String(30))
    freight_multiple: Mapped[int | None] = mapped_column(Integer)  # N x freight cap
    cap_fen: Mapped[int | None] = mapped_column(BigInteger)  # flat cap (or flat amount)
    invoice_above_fen: Mapped[int | None] = mapped_column(BigInteger)  # invoice needed above
    evidence: Mapped[list] = mapped_column(JSON, default=list)  # evidence codes required
    note: Mapped[dict] = mapped_column(TranslatedText, default=dict)  # shown to customers

    version: Mapped[PolicyVersion] = relationship(back_populates="rules")


class Case(db.Model):
    """A complaint, claim, enquiry or call-back request."""

    __tablename__ = "customer_case"
    __table_args__ = (
        Index("ix_customer_case_duplicate", "tracking_number", "type", "phone_e164", "state"),
        Index("ix_customer_case_state_due", "state", "legal_due_at"),
        CheckConstraint("claimed_fen IS NULL OR claimed_fen >= 0", name="claimed_not_negative"),
        CheckConstraint("declared_value_fen IS NULL OR declared_value_fen >= 0",
                        name="declared_not_negative"),
        CheckConstraint("freight_fen IS NULL OR freight_fen >= 0", name="freight_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default=CaseKind.CLAIM)
    type: Mapped[str] = mapped_column(String(40), default=CaseType.OTHER)
    state: Mapped[str] = mapped_column(String(20), default=CaseState.NEW, index=True)
    source: Mapped[str] = mapped_column(String(20), default=CaseSource.WEB)
    # The customer
    customer_name: Mapped[str] = mapped_column(String(80))
    phone_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    phone_tail_digest: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    language: Mapped[str] = mapped_column(String(10), default="zh_Hans")
    preferred_channel: Mapped[str] = mapped_column(String(10), default=Channel.SMS)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The parcel and the incident
    tracking_number: Mapped[str | None] = mapped_column(String(40))
    service_line: Mapped[str | None] = mapped_column(String(40))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL"), index=True)
    parcel_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("affected_parcel.id", ondelete="SET NULL"), index=True)
    # Amounts in fen (integer); None when not given
    claimed_fen: Mapped[int | None] = mapped_column(BigInteger)
    declared_value_fen: Mapped[int | None] = mapped_column(BigInteger)
    insured: Mapped[bool] = mapped_column(Boolean, default=False)
    freight_fen: Mapped[int | None] = mapped_column(BigInteger)
    damaged_percent: Mapped[int | None] = mapped_column(Integer)  # partial damage / short
    # Policy and decision summary (the steps are in CaseDecision)
    policy_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_policy_version.id", ondelete="SET NULL"))
    suggested_fen: Mapped[int | None] = mapped_column(BigInteger)
    offered_fen: Mapped[int | None] = mapped_column(BigInteger)
    decision: Mapped[str | None] = mapped_column(String(20))  # latest DecisionStep
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Legal clock (calendar days), separate from the queues' business-hours SLA
    legal_clock: Mapped[str | None] = mapped_column(String(30))  # complaint_7d | postal_12305_15d
    legal_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first staff reply
    # Idempotency: the form submission that created the case
    submission_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Signed status links embed this; changing it revokes every link sent so far.
    access_nonce: Mapped[str] = mapped_column(String(16))
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_case.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)

    messages: Mapped[list[CaseMessage]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseMessage.id")
    evidence: Mapped[list[CaseEvidence]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseEvidence.id")
    decisions: Mapped[list[CaseDecision]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseDecision.id")
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseEvent.id")
    rating: Mapped[CaseRating | None] = relationship(
        back_populates="case", cascade="all, delete-orphan", uselist=False)
    policy_version: Mapped[PolicyVersion | None] = relationship()
    incident = relationship("Incident")
    # Not stored: how many cases the customer (same phone or email) had filed before this
    # one, when the filing counted them in its first query; routing then needs no count.
    earlier_cases_hint = None

    @property
    def is_open(self) -> bool:
        """True while new, open or waiting for the customer."""
        return self.state in OPEN_STATES

    def __repr__(self) -> str:
        return f"<Case {self.reference} {self.kind}/{self.type} {self.state}>"


class CaseMessage(db.Model):
    """One message of a case's conversation."""

    __tablename__ = "case_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default=MessageKind.CUSTOMER)
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # False for internal notes
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"))
    author_label: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    submission_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")


class CaseEvidence(db.Model):
    """An uploaded file (photo or PDF), stored through the evidence storage adapter."""

    __tablename__ = "case_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_message.id", ondelete="SET NULL"))
    draft_token: Mapped[str | None] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(String(200), default="")
    content_type: Mapped[str] = mapped_column(String(60))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(10), default=EvidenceState.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(String(300))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(20), default="customer")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case | None] = relationship(back_populates="evidence")
    message: Mapped[CaseMessage | None] = relationship()


class CaseDecision(db.Model):
    """One logged step of a compensation decision: who, why, how much."""

    __tablename__ = "case_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Payment details (step "paid")
    paid_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    method: Mapped[str | None] = mapped_column(String(40))
    payment_reference: Mapped[str | None] = mapped_column(String(80))
    policy_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_policy_version.id", ondelete="SET NULL"))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # calculation breakdown
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="decisions")


class CaseEvent(db.Model):
    """The case's history: state changes, appended submissions, merges, files..."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseRating(db.Model):
    """The customer's satisfaction rating (1-5) after the case was closed."""

    __tablename__ = "case_rating"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("customer_case.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    case: Mapped[Case] = relationship(back_populates="rating")
