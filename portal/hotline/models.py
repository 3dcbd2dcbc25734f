"""Hotline tables: what the portal remembers about numbers that text it, the inbound
message log, and the status callbacks Twilio sends for each outbound message.

- ``SmsContact``: one row per phone (E.164) that texted the hotline: its remembered
  language (and where that came from), first and last contact.
- ``SmsInbound``: every inbound message that passed the signature check, keyed by
  Twilio's ``MessageSid`` (unique), so a webhook Twilio retries is answered with the same
  reply and acted on once.
- ``SmsStatusEvent``: every status callback (sent, delivered, undelivered, failed...),
  linked to its outbox row when the ``MessageSid`` is known.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class SmsContact(db.Model):
    """A phone number that texted the hotline, and the language to answer it in."""

    __tablename__ = "sms_contact"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    language: Mapped[str] = mapped_column(String(10))
    language_source: Mapped[str] = mapped_column(String(10), default="message")  # | region
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    inbound_count: Mapped[int] = mapped_column(Integer, default=0)


class SmsInbound(db.Model):
    """One inbound message (signature checked) and what the hotline did with it."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32), index=True)
    to_number: Mapped[str] = mapped_column(String(32), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    command: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(40), default="")
    reply: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_case.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SmsStatusEvent(db.Model):
    """One status callback from Twilio for an outbound message."""

    __tablename__ = "sms_status_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), index=True)
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    error_code: Mapped[str | None] = mapped_column(String(20))
    to_number: Mapped[str] = mapped_column(String(32), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
