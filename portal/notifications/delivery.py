"""Delivering the outbox: lease due rows, hand each to its adapter, record the outcome.

``deliver_due`` is an edge (like a request): it commits. It first *leases* due rows
(``pending`` and ``next_attempt_at <= now`` -> ``sending`` with ``lease_until``) with one
``UPDATE ... RETURNING`` and commits the lease, so no other worker takes them (on
PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``). Then each row is sent: through
a batched adapter (Twilio) by ``batch.deliver_rows``, which writes the outcomes in bulk
(one statement per up to ``OUTBOX_RECORD_EVERY`` rows, within ``OUTBOX_RECORD_SECONDS``),
otherwise row by row by ``deliver_one``, each outcome committed on its own. A crash loses
at most the outcomes not yet written; those rows stay leased and are reconciled below.

Guarantee (docs/hotline.md states it for customers and operators): each recipient gets
each message exactly once unless the provider refuses it. A row is leased (``sending``,
``leased_at``, ``lease_until``, committed) before the provider call.

- A worker that dies before the call leaves a lease that expires; ``recover_stuck`` asks
  the provider, finds nothing, and puts the row back to ``pending``: it is sent later.
- A worker that dies after the provider accepted the message but before the outcome was
  committed leaves the same expired lease; ``recover_stuck`` first reconciles
  (``reconcile_before_resend``: for SMS, the messages Twilio holds for that number since
  the lease, matched by ``reconcile.match_sent``) and marks the row sent with Twilio's id
  when found, so no duplicate goes out.
- When the provider cannot be asked, the row stays leased (a fresh lease) and is
  reconciled later: a delay, never a guess.
- Email has no provider-side listing; it carries a stable ``Message-ID`` (the same on
  every attempt) so receiving systems drop a duplicate.

SMS takes a token from the per-sender bucket (``throttle``) before each provider call,
so all workers together keep to the sender's throughput (``SMS_SEND_RATE``).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from portal.db import utcnow
from portal.extensions import db
from portal.notifications import throttle
from portal.notifications.adapters import Outcome, ProviderResult, get_adapter
from portal.notifications.batch import call_provider, deliver_rows
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


def lease_rows(batch_size: int) -> list:
    """Lease up to ``batch_size`` due rows and commit; return them (plain rows, oldest due
    first), already ``sending``.

    One statement: ``WITH due AS MATERIALIZED (SELECT ... LIMIT n) UPDATE ... FROM due
    RETURNING ...``. On PostgreSQL the select takes ``FOR UPDATE SKIP LOCKED``, so workers
    leasing at once never wait for each other nor take the same row; SQLite runs one writer
    at a time. (Not ``WHERE id IN (SELECT ... SKIP LOCKED LIMIT n)``: PostgreSQL may run
    such a subquery more than once and lease more than ``n`` rows.)
    """
    now = utcnow()
    lease_until = now + timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
    table = OutboxMessage.__table__
    due = (select(table.c.id)
           .where(table.c.status == OutboxStatus.PENDING, table.c.next_attempt_at <= now)
           .order_by(table.c.next_attempt_at, table.c.id)
           .limit(batch_size))
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    due = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    rows = db.session.execute(
        update(table)
        .where(table.c.id == due.c.id, table.c.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, lease_until=lease_until, leased_at=now,
                updated_at=now)
        .returning(*table.c)).all()
    db.session.commit()
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.id))


def lease_due(batch_size: int) -> list[int]:
    """Lease up to ``batch_size`` due rows and commit; return their ids."""
    return [row.id for row in lease_rows(batch_size)]


def reconcile_before_resend(message: OutboxMessage) -> bool:
    """True when the provider already has ``message`` (so it must not be resent); the row
    is then filled in (provider, id, status, sent time) and the finding logged as an
    attempt. False when the provider has no record of it, or keeps none (email, folder).

    Called by ``recover_stuck`` for rows whose lease expired mid-send. Raises
    ``reconcile.ReconcileUnavailable`` when the provider cannot be asked.
    """
    from portal.notifications.reconcile import match_sent

    adapter = get_adapter(message.channel)
    lister = getattr(adapter, "sent_messages", None)
    if lister is None:
        return False
    now = utcnow()
    since = message.leased_at or (
        message.lease_until - timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
        if message.lease_until else message.created_at)
    records = lister(message.recipient, since)
    sids = [r.sid for r in records]
    taken = set(db.session.scalars(select(OutboxMessage.provider_id).where(
        OutboxMessage.provider_id.in_(sids), OutboxMessage.id != message.id))) if sids else set()
    skew = timedelta(seconds=int(current_app.config.get("OUTBOX_RECONCILE_SKEW_SECONDS", 60)))
    found = match_sent(records, message.recipient, message.body_text, since, now, taken, skew)
    if found is None:
        return False
    message.provider = adapter.name
    message.provider_id = found.sid
    message.provider_status = found.status or None
    message.sent_at = found.date_created or now
    message.error_code = None
    message.last_error = None
    db.session.add(DeliveryAttempt(
        message_id=message.id, at=now, outcome=Outcome.SENT, provider_id=found.sid,
        detail="found at the provider after the lease expired (reconciled, not resent)",
        meta={"reconciled": True, "provider": adapter.name, "since": since.isoformat()}))
    return True


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


def _take_send_token() -> bool:
    """Wait for the sender's send-rate bucket (no-op when ``SMS_SEND_RATE`` is 0)."""
    config = current_app.config
    return throttle.wait_for_turn(config, throttle.sender_of(config),
                                  float(config.get("SMS_SEND_MAX_WAIT_SECONDS", 30)))


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
    if message.channel == "sms" and not _take_send_token():
        message.attempts -= 1
        message.status = OutboxStatus.PENDING
        message.lease_until = None
        message.next_attempt_at = utcnow()
        db.session.commit()
        return "throttled"
    adapter = adapters.get(message.channel)
    if adapter is None:
        adapter = adapters[message.channel] = get_adapter(message.channel)
    result = call_provider(adapter, message)
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


def deliver_due(batch_size: int | None = None,
                adapters: dict | None = None) -> dict[str, int]:
    """Lease and send one batch of due rows; return counts per resulting status.

    ``counts["leased"]`` is the number of rows taken; 0 means nothing was due. With a
    batched adapter for SMS (Twilio) the batch goes through ``batch.deliver_rows``
    (outcomes written in bulk), otherwise row by row through ``deliver_one``. A caller
    delivering several batches passes one ``adapters`` dict to all of them, so they share
    each adapter (for Twilio one SDK client: one keep-alive connection).
    """
    batch_size = batch_size or int(current_app.config["OUTBOX_BATCH_SIZE"])
    rows = lease_rows(batch_size)
    # a lease must never expire while its worker is still busy with the batch (slow
    # provider, send-rate waits): stop at 80% of it and give the rest back
    deadline = time.monotonic() + 0.8 * int(current_app.config["OUTBOX_LEASE_SECONDS"])
    counts: Counter[str] = Counter(leased=len(rows))
    adapters = {} if adapters is None else adapters

    def adapter_for(channel: str):
        adapter = adapters.get(channel)
        if adapter is None:
            adapter = adapters[channel] = get_adapter(channel)
        return adapter

    if rows and _sms_batched(adapter_for):
        deliver_rows(rows, adapter_for, deadline, counts, _take_send_token)
        return dict(counts)
    ids = [row.id for row in rows]
    done = 0
    try:
        for message_id in ids:
            if time.monotonic() > deadline:
                release(ids[done:])
                counts["released"] += len(ids) - done
                done = len(ids)
                break
            counts[str(deliver_one(message_id, adapters))] += 1
            done += 1
    finally:
        if done < len(ids):  # an exception: the untried rows go back at once; the row in
            try:  # flight stays leased (it may have been sent) until recover_stuck
                release(ids[done + 1:])
            except Exception:
                log.exception("could not release leased outbox rows")
    return dict(counts)


def _sms_batched(adapter_for) -> bool:
    """True when SMS goes through an adapter that wants batched delivery (Twilio)."""
    try:
        return bool(getattr(adapter_for("sms"), "batched", False))
    except Exception:  # SMS not configured here: row by row, as every other channel
        return False


def recover_stuck() -> int:
    """Return rows whose lease expired while ``sending`` to ``pending``; commit.

    Before a row goes back, ``reconcile_before_resend`` may say the provider already has
    it; such a row is marked sent instead.
    """
    from portal.notifications.reconcile import ReconcileUnavailable

    now = utcnow()
    lease = timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
    stuck = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now)).all()
    for message in stuck:
        try:
            found = reconcile_before_resend(message)
        except ReconcileUnavailable as error:
            # unknown: neither resend (could duplicate) nor mark sent (could lose it)
            message.lease_until = now + lease
            message.last_error = f"could not reconcile with the provider: {error}"[:500]
            log.warning("outbox row %s: reconciliation unavailable (%s); kept leased",
                        message.id, error)
            continue
        if found:
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


def retry_failed_event(event_key: str) -> int:
    """Put every failed row of one event back to pending (one UPDATE); the caller commits.
    Returns the number of rows."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.event_key == event_key, OutboxMessage.status == OutboxStatus.FAILED)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                lease_until=None, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.flush()
    return result.rowcount or 0
