"""Delivering the outbox: lease due rows, hand each to its adapter, record the outcome.

``deliver_due`` is an edge (like a request): it commits. It first *leases* due rows
(``pending`` and ``next_attempt_at <= now`` -> ``sending`` with ``lease_until``) and commits
the lease, so no other worker takes them; on PostgreSQL with ``SELECT ... FOR UPDATE SKIP
LOCKED``, elsewhere with a conditional ``UPDATE ... WHERE status='pending'`` per row. Then
each row is sent and its outcome committed on its own, so a crash loses at most the
outcome of the row in flight.

Guarantee: at-least-once with idempotency keys. A worker that dies after the provider
accepted a message but before the outcome was committed leaves the row in ``sending``;
``recover_stuck`` returns it to ``pending`` once the lease expires, and it is sent again
unless ``reconcile_before_resend`` finds it already went out. Email carries a stable
``Message-ID`` (the same on every attempt) so receivers can drop the duplicate; for SMS the
hotline feature is expected to implement reconciliation against Twilio.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.adapters import Outcome, ProviderResult, get_adapter
from portal.notifications.models import (
    DeliveryAttempt,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

log = logging.getLogger("portal.notifications.delivery")


def backoff_seconds(attempts: int, config: dict | None = None) -> float:
    """Exponential backoff with full jitter in its upper half: base * 2^(n-1), capped."""
    config = config if config is not None else current_app.config
    base = float(config.get("OUTBOX_RETRY_BASE_SECONDS", 30))
    cap = float(config.get("OUTBOX_RETRY_MAX_SECONDS", 3600))
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay / 2 + random.uniform(0, delay / 2)


def lease_due(batch_size: int) -> list[int]:
    """Lease up to ``batch_size`` due rows and commit; return their ids."""
    now = utcnow()
    lease_until = now + timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
    due = (select(OutboxMessage.id)
           .where(OutboxMessage.status == OutboxStatus.PENDING,
                  OutboxMessage.next_attempt_at <= now)
           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
           .limit(batch_size))
    if db.session.get_bind().dialect.name == "postgresql":
        ids = list(db.session.scalars(due.with_for_update(skip_locked=True)))
        if ids:
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
                status=OutboxStatus.SENDING, lease_until=lease_until, updated_at=now))
    else:
        ids = []
        for candidate in db.session.scalars(due).all():
            result = db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == candidate,
                       OutboxMessage.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.SENDING, lease_until=lease_until, updated_at=now))
            if result.rowcount == 1:
                ids.append(candidate)
    db.session.commit()
    return ids


def reconcile_before_resend(message: OutboxMessage) -> bool:
    """Hook: True when the provider already has ``message`` (so it must not be resent).

    Called by ``recover_stuck`` for rows whose lease expired mid-send. The default knows
    no provider-side record and returns False; the hotline feature will look the message
    up at Twilio (and fill in ``provider_id``) before a resend.
    """
    return False


def _blocked(message: OutboxMessage) -> str | None:
    """Why ``message`` must not be sent now (suppressed or unsubscribed), else None."""
    if db.session.get(Suppression, (message.channel, message.recipient)) is not None:
        return "address on the suppression list"
    if message.subscription_id and message.template != "subscription_confirm":
        sub = db.session.get(Subscription, message.subscription_id)
        if sub is not None and sub.status == SubscriptionStatus.UNSUBSCRIBED:
            return "subscription ended before sending"
    return None


def _record(message: OutboxMessage, result: ProviderResult) -> str:
    """Apply a provider result to the row and log the attempt; return the new status."""
    from portal.notifications.subscriptions import suppress

    now = utcnow()
    config = current_app.config
    message.provider = result.provider
    message.lease_until = None
    message.error_code = result.error_code
    message.last_error = result.detail
    db.session.add(DeliveryAttempt(
        message_id=message.id, at=now, outcome=result.outcome, error_code=result.error_code,
        detail=result.detail, provider_id=result.provider_id,
        meta={"attempt": message.attempts, "provider": result.provider}))
    if result.outcome == Outcome.SENT:
        message.status = OutboxStatus.SENT
        message.provider_id = result.provider_id
        message.provider_status = result.provider_status
        message.sent_at = now
    elif result.outcome == Outcome.SUPPRESSED:
        message.status = OutboxStatus.SUPPRESSED
        suppress(message.channel, message.recipient, f"provider:{result.error_code}")
    elif (result.outcome == Outcome.RETRY
          and message.attempts < int(config["OUTBOX_MAX_ATTEMPTS"])):
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = now + timedelta(seconds=backoff_seconds(message.attempts))
    else:
        message.status = OutboxStatus.FAILED
    return message.status


def deliver_one(message_id: int, adapters: dict) -> str:
    """Send one leased row and commit its outcome; return the resulting status."""
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    if message is None or message.status != OutboxStatus.SENDING:
        db.session.rollback()
        return "skipped"
    reason = _blocked(message)
    if reason:
        message.status = OutboxStatus.SUPPRESSED
        message.lease_until = None
        message.last_error = reason
        db.session.commit()
        return OutboxStatus.SUPPRESSED
    message.attempts += 1
    adapter = adapters.get(message.channel)
    if adapter is None:
        adapter = adapters[message.channel] = get_adapter(message.channel)
    try:
        result = adapter.send(message)
    except Exception as error:
        log.exception("adapter %s raised for outbox row %s", adapter.name, message.id)
        result = ProviderResult(Outcome.RETRY, adapter.name, error_code="exception",
                                detail=f"{type(error).__name__}: {error}"[:500])
    status = _record(message, result)
    db.session.commit()
    log.info("outbox row %s: %s", message.id, status,
             extra={"event": "outbox.attempt", "outcome": result.outcome})
    return status


def release(ids: list[int]) -> None:
    """Give leased but untried rows back (status pending, due now) and commit."""
    if not ids:
        return
    db.session.rollback()
    db.session.execute(update(OutboxMessage).where(
        OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING,
    ).values(status=OutboxStatus.PENDING, lease_until=None, next_attempt_at=utcnow()))
    db.session.commit()


def deliver_due(batch_size: int | None = None) -> dict[str, int]:
    """Lease and send one batch of due rows; return counts per resulting status.

    ``counts["leased"]`` is the number of rows taken; 0 means nothing was due.
    """
    batch_size = batch_size or int(current_app.config["OUTBOX_BATCH_SIZE"])
    ids = lease_due(batch_size)
    counts: Counter[str] = Counter(leased=len(ids))
    adapters: dict = {}
    done = 0
    try:
        for message_id in ids:
            counts[str(deliver_one(message_id, adapters))] += 1
            done += 1
    finally:
        if done < len(ids):  # an exception: the untried rows go back at once; the row in
            try:  # flight stays leased (it may have been sent) until recover_stuck
                release(ids[done + 1:])
            except Exception:
                log.exception("could not release leased outbox rows")
    return dict(counts)


def recover_stuck() -> int:
    """Return rows whose lease expired while ``sending`` to ``pending``; commit.

    Before a row goes back, ``reconcile_before_resend`` may say the provider already has
    it; such a row is marked sent instead.
    """
    now = utcnow()
    stuck = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now)).all()
    for message in stuck:
        if reconcile_before_resend(message):
            message.status = OutboxStatus.SENT
            message.sent_at = message.sent_at or now
        else:
            message.status = OutboxStatus.PENDING
            message.next_attempt_at = now
            message.last_error = "lease expired while sending; will be sent again"
        message.lease_until = None
    db.session.commit()
    if stuck:
        log.warning("recovered %d outbox rows stuck in sending", len(stuck))
    return len(stuck)


def retry_failed(ids: list[int] | None = None) -> int:
    """Put failed rows (all, or ``ids``) back to pending, due now, with a fresh round of
    attempts. Adds and flushes; the caller commits. Returns the number of rows."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))
    rows = db.session.scalars(query).all()
    for row in rows:
        row.status = OutboxStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = utcnow()
        row.lease_until = None
    db.session.flush()
    return len(rows)
