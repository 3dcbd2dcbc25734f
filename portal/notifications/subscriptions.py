"""Subscriptions with double opt-in, unsubscribe links and the suppression list.

- ``subscribe`` from the web (or by staff) creates a *pending* subscription and writes a
  confirmation message through ``notify``; only the confirmation link makes it active.
  A subscription made by texting the hotline (``source="sms"``, channel sms) is confirmed
  at once: the sender has shown the number is theirs. Subscribing again is idempotent: a
  confirmed subscription stays as it is; a pending one gets a fresh confirmation at most
  every ``SUBSCRIBE_RESEND_MINUTES``; an unsubscribed one starts the opt-in again.
- Confirmation tokens are ``<issued, base 36>.<random>``; only their SHA-256 is stored,
  and they expire after ``SUBSCRIPTION_CONFIRM_HOURS``.
- An address on the suppression list (an SMS opt-out: STOP/TD, or Twilio's 21610) gets no
  confirmation message; ``opt_in`` (the hotline's START) takes it off the list.

Every function adds and flushes; the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.db import utcnow
from portal.extensions import db
from portal.i18n import DEFAULT_LANGUAGE, normalise_language
from portal.notifications.links import confirm_url
from portal.notifications.models import (
    Channel,
    OutboxMessage,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

TOPIC_TYPES = ("incident", "parcel", "region", "all")
SOURCES = ("web", "sms", "staff", "api")


class SubscriptionError(ValueError):
    """A subscription request or token that cannot be honoured; ``code`` says why."""

    def __init__(self, code: str, message: str = ""):
        """``code``: invalid_address, invalid_topic, invalid_token, expired_token..."""
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class SubscribeResult:
    """What ``subscribe`` did."""

    subscription: Subscription
    created: bool
    confirmation_sent: bool
    suppressed: bool


def normalise_address(channel: str, address: str) -> str:
    """E.164 for phones (default region ``PHONE_DEFAULT_REGION``, CN), normalised email
    otherwise; raises ``SubscriptionError("invalid_address")``."""
    address = (address or "").strip()
    if channel == Channel.SMS:
        region = current_app.config.get("PHONE_DEFAULT_REGION", "CN")
        try:
            number = phonenumbers.parse(address, region)
        except phonenumbers.NumberParseException as error:
            raise SubscriptionError("invalid_address", str(error)) from error
        if not phonenumbers.is_valid_number(number):
            raise SubscriptionError("invalid_address", "not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if channel == Channel.EMAIL:
        try:
            valid = validate_email(address, check_deliverability=False)
        except EmailNotValidError as error:
            raise SubscriptionError("invalid_address", str(error)) from error
        return valid.normalized.lower()  # one subscription per mailbox, whatever the case
    raise SubscriptionError("invalid_channel", f"unknown channel {channel!r}")


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (what the database stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_confirm_token() -> str:
    issued = int(time.time())
    return f"{_base36(issued)}.{secrets.token_urlsafe(24)}"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def _token_issued_at(token: str) -> int | None:
    head, _, _rest = token.partition(".")
    try:
        return int(head, 36)
    except ValueError:
        return None


def _send_confirmation(sub: Subscription) -> None:
    from portal.notifications.services import Recipient, notify

    token = _new_confirm_token()
    sub.confirm_token_hash = hash_token(token)
    db.session.flush()
    notify("subscription_confirm",
           [Recipient(sub.channel, sub.address, sub.language, sub.id)],
           {"confirm_url": confirm_url(token, sub.language), "topic_type": sub.topic_type,
            "topic_key": sub.topic_key,
            "expires_hours": current_app.config.get("SUBSCRIPTION_CONFIRM_HOURS", 72)},
           event_key=f"subscription:{sub.id}:confirm:{token.partition('.')[0]}",
           idempotency_key_base=f"subscription:{sub.id}:confirm:{sub.confirm_token_hash[:16]}")


def _recently_sent_confirmation(sub: Subscription) -> bool:
    minutes = int(current_app.config.get("SUBSCRIBE_RESEND_MINUTES", 10))
    since = utcnow() - timedelta(minutes=minutes)
    return db.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.subscription_id == sub.id,
            OutboxMessage.template == "subscription_confirm",
            OutboxMessage.created_at >= since).limit(1)) is not None


def subscribe(channel: str, address: str, topic_type: str, topic_key: str = "",
              language: str = DEFAULT_LANGUAGE, source: str = "web") -> SubscribeResult:
    """Subscribe ``address`` on ``channel`` to a topic (double opt-in unless by SMS)."""
    try:
        channel = Channel(channel).value
    except ValueError as error:
        raise SubscriptionError("invalid_channel") from error
    if topic_type not in TOPIC_TYPES:
        raise SubscriptionError("invalid_topic", f"unknown topic type {topic_type!r}")
    topic_key = "" if topic_type == "all" else (topic_key or "").strip()[:80]
    if topic_type != "all" and not topic_key:
        raise SubscriptionError("invalid_topic", "topic key required")
    address = normalise_address(channel, address)
    language = normalise_language(language) or DEFAULT_LANGUAGE
    source = source if source in SOURCES else "web"
    suppressed = db.session.get(Suppression, (channel, address)) is not None
    direct = source == "sms" and channel == Channel.SMS
    sub = db.session.scalar(select(Subscription).where(
        Subscription.channel == channel, Subscription.address == address,
        Subscription.topic_type == topic_type, Subscription.topic_key == topic_key))
    created = sub is None
    if created:
        sub = Subscription(channel=channel, address=address, topic_type=topic_type,
                           topic_key=topic_key, language=language, source=source,
                           status=SubscriptionStatus.PENDING,
                           unsubscribe_token=secrets.token_urlsafe(32))
        db.session.add(sub)
    else:
        sub.language = language
        if sub.status == SubscriptionStatus.CONFIRMED:
            db.session.flush()
            return SubscribeResult(sub, False, False, suppressed)
        if sub.status == SubscriptionStatus.UNSUBSCRIBED:
            sub.status = SubscriptionStatus.PENDING
            sub.unsubscribed_at = None
    db.session.flush()
    if direct:
        if suppressed:  # texting in is an opt-in
            opt_in(channel, address)
        sub.status = SubscriptionStatus.CONFIRMED
        sub.confirmed_at = utcnow()
        sub.confirm_token_hash = None
        db.session.flush()
        return SubscribeResult(sub, created, False, False)
    if suppressed or (not created and _recently_sent_confirmation(sub)):
        return SubscribeResult(sub, created, False, suppressed)
    _send_confirmation(sub)
    return SubscribeResult(sub, created, True, False)


def find_by_confirm_token(token: str) -> Subscription:
    """The subscription a confirmation token belongs to; raises invalid/expired errors."""
    issued = _token_issued_at(token or "")
    sub = db.session.scalar(select(Subscription).where(
        Subscription.confirm_token_hash == hash_token(token or ""))) if issued else None
    if sub is None:
        raise SubscriptionError("invalid_token")
    hours = int(current_app.config.get("SUBSCRIPTION_CONFIRM_HOURS", 72))
    if time.time() - issued > hours * 3600:
        raise SubscriptionError("expired_token")
    return sub


def confirm(token: str) -> Subscription:
    """Confirm the pending subscription of ``token`` (idempotent once confirmed)."""
    sub = find_by_confirm_token(token)
    if sub.status != SubscriptionStatus.CONFIRMED:
        sub.status = SubscriptionStatus.CONFIRMED
        sub.confirmed_at = utcnow()
        sub.unsubscribed_at = None
    db.session.flush()
    return sub


def find_by_unsubscribe_token(token: str) -> Subscription:
    """The subscription of an unsubscribe token; raises ``SubscriptionError``."""
    sub = db.session.scalar(select(Subscription).where(
        Subscription.unsubscribe_token == (token or "")[:64])) if token else None
    if sub is None:
        raise SubscriptionError("invalid_token")
    return sub


def unsubscribe(token: str) -> Subscription:
    """End the subscription of ``token`` (idempotent)."""
    sub = find_by_unsubscribe_token(token)
    if sub.status != SubscriptionStatus.UNSUBSCRIBED:
        sub.status = SubscriptionStatus.UNSUBSCRIBED
        sub.unsubscribed_at = utcnow()
        sub.confirm_token_hash = None
    db.session.flush()
    return sub


def resubscribe(token: str) -> Subscription:
    """Undo an unsubscribe from the unsubscribe page (the token proves ownership)."""
    sub = find_by_unsubscribe_token(token)
    if sub.status == SubscriptionStatus.UNSUBSCRIBED:
        if db.session.get(Suppression, (sub.channel, sub.address)) is not None:
            raise SubscriptionError("suppressed")
        sub.status = SubscriptionStatus.CONFIRMED
        sub.confirmed_at = utcnow()
        sub.unsubscribed_at = None
    db.session.flush()
    return sub


def unsubscribe_all(channel: str, address: str, reason: str = "opt-out") -> int:
    """End every subscription of ``address`` on ``channel``; SMS opt-outs are also added
    to the suppression list. Returns the number of subscriptions ended."""
    channel = Channel(channel).value
    try:
        address = normalise_address(channel, address)
    except SubscriptionError:
        address = address.strip()
    ended = 0
    for sub in db.session.scalars(select(Subscription).where(
            Subscription.channel == channel, Subscription.address == address,
            Subscription.status != SubscriptionStatus.UNSUBSCRIBED)):
        sub.status = SubscriptionStatus.UNSUBSCRIBED
        sub.unsubscribed_at = utcnow()
        sub.confirm_token_hash = None
        ended += 1
    if channel == Channel.SMS:
        suppress(channel, address, reason)
    db.session.flush()
    return ended


def suppress(channel: str, address: str, reason: str) -> None:
    """Put ``address`` on the suppression list (no-op when it is already there)."""
    if db.session.get(Suppression, (channel, address)) is not None:
        return
    from portal.notifications.services import savepoints_work

    row = Suppression(channel=channel, address=address, reason=reason[:40])
    if not savepoints_work():
        db.session.add(row)
        db.session.flush()
        return
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        pass  # added concurrently: it is on the list either way


def opt_in(channel: str, address: str) -> bool:
    """Take ``address`` off the suppression list (SMS START/UNSTOP); True if it was on it.

    Subscriptions ended by the opt-out stay ended: the person subscribes again.
    """
    channel = Channel(channel).value
    try:
        address = normalise_address(channel, address)
    except SubscriptionError:
        address = address.strip()
    row = db.session.get(Suppression, (channel, address))
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    return True
