"""Delivering the outbox: lease due rows, hand each to its adapter, record the outcome.

``deliver_due`` is an edge (like a request): it commits. It first *leases* due rows
(``pending`` and ``next_attempt_at <= now`` -> ``sending`` with ``lease_until``) and commits
the lease, so no other worker takes them; on PostgreSQL with ``SELECT ... FOR UPDATE SKIP
LOCKED``, elsewhere with a conditional ``UPDATE ... WHERE status='pending'`` per row. Then
each row is sent and its outcome committed on its own, so a crash loses at most the
outcome of the row in flight.

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
import queue
import random
import threading
import time
from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, select, update

from portal.db import utcnow
from portal.extensions import db
from portal.notifications import throttle
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
                status=OutboxStatus.SENDING, lease_until=lease_until, leased_at=now,
                updated_at=now))
    else:
        ids = []
        for candidate in db.session.scalars(due).all():
            result = db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == candidate,
                       OutboxMessage.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.SENDING, lease_until=lease_until, leased_at=now,
                        updated_at=now))
            if result.rowcount == 1:
                ids.append(candidate)
    db.session.commit()
    return ids


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
    # a lease must never expire while its worker is still busy with the batch (slow
    # provider, send-rate waits): stop at 80% of it and give the rest back
    deadline = time.monotonic() + 0.8 * int(current_app.config["OUTBOX_LEASE_SECONDS"])
    counts: Counter[str] = Counter(leased=len(ids))
    adapters: dict = {}
    if ids and _sms_pipelined(adapters):
        return _deliver_pipelined(ids, adapters, deadline, counts)
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


# --- pipelined delivery (network adapters: Twilio) -------------------------------------------
#
# The provider call is the slow part of a send; recording its outcome costs a few database
# round trips. For an adapter that declares ``pipelined = True`` the batch is sent by this
# thread while a recorder thread (its own session) writes each outcome and commits, so the
# two overlap; provider calls stay one at a time per worker (the same concurrency). The
# guarantee is unchanged: a row stays leased until its outcome is committed, and a worker
# that dies with outcomes not yet committed leaves leases that recovery reconciles.
# Suppressions and ended subscriptions are read for the whole batch and read again at
# least every ``OUTBOX_RECHECK_SECONDS`` (1 s), so a STOP or TD is honoured within a
# second; Twilio refuses a number that texted STOP anyway (21610).


def _sms_pipelined(adapters: dict) -> bool:
    try:
        adapter = adapters.get("sms") or adapters.setdefault("sms", get_adapter("sms"))
    except Exception:
        return False
    return bool(getattr(adapter, "pipelined", False))


def _blocked_many(rows: list) -> dict[int, str]:
    """Why each of ``rows`` must not be sent now (suppressed or unsubscribed)."""
    from portal.notifications.services import suppressed_addresses

    if not rows:
        return {}
    suppressed = suppressed_addresses({(r.channel, r.recipient) for r in rows})
    sub_ids = {r.subscription_id for r in rows
               if r.subscription_id and r.template != "subscription_confirm"}
    ended = set(db.session.scalars(select(Subscription.id).where(
        Subscription.id.in_(sub_ids), Subscription.status == SubscriptionStatus.UNSUBSCRIBED))
    ) if sub_ids else set()
    db.session.commit()  # end the read transaction (nothing else is pending here)
    reasons = {}
    for row in rows:
        if (row.channel, row.recipient) in suppressed:
            reasons[row.id] = "address on the suppression list"
        elif row.subscription_id in ended and row.template != "subscription_confirm":
            reasons[row.id] = "subscription ended before sending"
    return reasons


class _Recorder(threading.Thread):
    """Writes outcomes in its own session; commits whatever has queued up (group commit)."""

    def __init__(self, app):
        super().__init__(name="outbox-recorder", daemon=True)
        self.app = app
        self.items: queue.Queue = queue.Queue()
        self.statuses: Counter[str] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        with self.app.app_context():
            try:
                finished = False
                while not finished:
                    batch = [self.items.get()]
                    while True:
                        try:
                            batch.append(self.items.get_nowait())
                        except queue.Empty:
                            break
                    finished = None in batch
                    self._apply_many([item for item in batch if item is not None])
                    db.session.commit()
            except BaseException as error:
                self.error = error
                log.exception("recording outbox outcomes failed")
                db.session.rollback()
            finally:
                db.session.remove()

    def _apply_many(self, items: list) -> None:
        """The same transitions as ``_record``, as two executemany statements (cheap in
        CPU: the sender thread shares the interpreter)."""
        from portal.notifications.subscriptions import suppress

        if not items:
            return
        table = OutboxMessage.__table__
        ids = [item[0] for item in items]
        current = {r.id: r for r in db.session.execute(
            select(table.c.id, table.c.status, table.c.channel, table.c.recipient,
                   table.c.provider, table.c.provider_id, table.c.provider_status,
                   table.c.error_code, table.c.sent_at, table.c.next_attempt_at,
                   table.c.attempts).where(table.c.id.in_(ids)))}
        now = utcnow()
        most = int(current_app.config["OUTBOX_MAX_ATTEMPTS"])
        updates, attempts = [], []
        for message_id, tries, result, reason in items:
            row = current.get(message_id)
            if row is None or row.status != OutboxStatus.SENDING:
                self.statuses["skipped"] += 1
                continue
            values = {"b_id": message_id, "status": row.status, "lease_until": None,
                      "attempts": row.attempts, "provider": row.provider,
                      "provider_id": row.provider_id, "provider_status": row.provider_status,
                      "error_code": row.error_code, "last_error": reason,
                      "sent_at": row.sent_at, "next_attempt_at": row.next_attempt_at,
                      "updated_at": now}
            if reason is not None:
                values["status"] = OutboxStatus.SUPPRESSED
            else:
                values.update(attempts=tries, provider=result.provider,
                              error_code=result.error_code, last_error=result.detail)
                attempts.append({"message_id": message_id, "at": now,
                                 "outcome": str(result.outcome),
                                 "error_code": result.error_code, "detail": result.detail,
                                 "provider_id": result.provider_id,
                                 "meta": {"attempt": tries, "provider": result.provider}})
                if result.outcome == Outcome.SENT:
                    values.update(status=OutboxStatus.SENT, provider_id=result.provider_id,
                                  provider_status=result.provider_status, sent_at=now)
                elif result.outcome == Outcome.SUPPRESSED:
                    values["status"] = OutboxStatus.SUPPRESSED
                    suppress(row.channel, row.recipient, f"provider:{result.error_code}")
                elif result.outcome == Outcome.RETRY and tries < most:
                    values.update(status=OutboxStatus.PENDING, next_attempt_at=now + timedelta(
                        seconds=backoff_seconds(tries)))
                else:
                    values["status"] = OutboxStatus.FAILED
            self.statuses[str(values["status"])] += 1
            updates.append(values)
        if updates:
            columns = [key for key in updates[0] if key != "b_id"]
            statement = (update(table).where(table.c.id == bindparam("b_id"))
                         .values({key: bindparam(key) for key in columns}))
            db.session.connection().execute(statement, updates)
        if attempts:
            db.session.connection().execute(insert(DeliveryAttempt.__table__), attempts)


def _deliver_pipelined(ids: list[int], adapters: dict, deadline: float,
                       counts: Counter) -> dict[str, int]:
    config = current_app.config
    recheck = float(config.get("OUTBOX_RECHECK_SECONDS", 1.0))
    # plain rows (not ORM objects): the recorder's session owns the outbox rows
    rows = {r.id: r for r in db.session.execute(
        select(OutboxMessage.__table__).where(OutboxMessage.id.in_(ids)))}
    db.session.commit()  # end the read transaction (nothing is pending: lease_due committed)
    recorder = _Recorder(current_app._get_current_object())
    recorder.start()
    done, blocked, checked_at = 0, {}, -1e9
    try:
        for index, message_id in enumerate(ids):
            message = rows.get(message_id)
            if time.monotonic() > deadline:
                break
            if recorder.error is not None:
                raise RuntimeError("outcomes cannot be recorded") from recorder.error
            if message is None or message.status != OutboxStatus.SENDING:
                counts["skipped"] += 1
                done = index + 1
                continue
            if time.monotonic() - checked_at > recheck:
                blocked = _blocked_many([rows[i] for i in ids[index:] if i in rows])
                checked_at = time.monotonic()
            if message_id in blocked:
                recorder.items.put((message_id, None, None, blocked[message_id]))
                done = index + 1
                continue
            if message.channel == "sms" and not _take_send_token():
                break
            adapter = adapters.get(message.channel) or adapters.setdefault(
                message.channel, get_adapter(message.channel))
            done = index + 1  # from here the row counts as in flight
            try:
                result = adapter.send(message)
            except Exception as error:
                log.exception("adapter %s raised for outbox row %s", adapter.name, message_id)
                result = ProviderResult(Outcome.RETRY, adapter.name, error_code="exception",
                                        detail=f"{type(error).__name__}: {error}"[:500])
            recorder.items.put((message_id, (message.attempts or 0) + 1, result, None))
    finally:
        recorder.items.put(None)
        recorder.join()
        if done < len(ids):  # stopped early (deadline, rate, error): untried rows go back
            try:
                release(ids[done:])
                counts["released"] += len(ids) - done
            except Exception:
                log.exception("could not release leased outbox rows")
    counts.update(recorder.statuses)
    if recorder.error is not None:
        raise RuntimeError("outcomes cannot be recorded") from recorder.error
    return dict(counts)


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
