"""Batched delivery for network providers (Twilio): one call at a time, outcomes in bulk.

The provider call is the slow part of a send; what the portal adds is bookkeeping, and on
a busy machine every millisecond of CPU it spends is taken from the provider calls (and
from PostgreSQL and the other workers). So for an adapter that declares ``batched = True``
a leased batch is sent by one loop, one provider call at a time per worker (the same
concurrency as a bare loop of SDK calls), and the outcomes are kept in memory and written
together: one statement for up to ``OUTBOX_RECORD_EVERY`` outcomes (default 50), at the
latest ``OUTBOX_RECORD_SECONDS`` (default 0.5 s) after the oldest of them, and whenever the
loop commits for another reason; then one commit.

The guarantee is unchanged (``delivery`` states it): a row stays ``sending`` under its lease
until its outcome is committed. A worker that dies with outcomes not yet written leaves
rows whose leases expire; ``delivery.recover_stuck`` reconciles each one against Twilio
(a message Twilio accepted is found and marked sent, never resent; one it never got goes
back to pending). Writing in bulk only widens that window from one row to the outcomes
held in memory: the same recovery covers each of them.

Suppressions and ended subscriptions are read for the rest of the batch at the start and
again at least every ``OUTBOX_RECHECK_SECONDS`` (1 s), so a STOP or TD is honoured within a
second; Twilio refuses a number that texted STOP anyway (21610).

On PostgreSQL the outcomes are written by one ``UPDATE ... FROM unnest(...)`` whose
``RETURNING`` feeds the ``INSERT`` of the attempts (a single statement, nothing read back);
elsewhere by an executemany ``UPDATE`` and a multi-row ``INSERT``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, case, func, insert, select, text, update

from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.notifications.adapters import Outcome, ProviderResult
from portal.notifications.models import (
    DeliveryAttempt,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
)

log = logging.getLogger("portal.notifications.delivery")

#: What an outcome sets: one array per name in ``RECORD_POSTGRESQL``.
COLUMNS = ("id", "tried", "status", "attempts", "provider", "provider_id", "provider_status",
           "error_code", "last_error", "sent_at", "next_attempt_at", "outcome")

RECORD_POSTGRESQL = text("""
WITH v AS (
    SELECT * FROM unnest(
        CAST(:id AS bigint[]), CAST(:tried AS boolean[]), CAST(:status AS text[]),
        CAST(:attempts AS integer[]), CAST(:provider AS text[]), CAST(:provider_id AS text[]),
        CAST(:provider_status AS text[]), CAST(:error_code AS text[]),
        CAST(:last_error AS text[]), CAST(:sent_at AS timestamptz[]),
        CAST(:next_attempt_at AS timestamptz[]), CAST(:outcome AS text[]))
    AS v(id, tried, status, attempts, provider, provider_id, provider_status, error_code,
         last_error, sent_at, next_attempt_at, outcome)
), u AS (
    UPDATE outbox_message AS o SET
        status = v.status, lease_until = NULL, updated_at = :now,
        attempts = COALESCE(v.attempts, o.attempts),
        provider = COALESCE(v.provider, o.provider),
        provider_id = COALESCE(v.provider_id, o.provider_id),
        provider_status = COALESCE(v.provider_status, o.provider_status),
        error_code = CASE WHEN v.tried THEN v.error_code ELSE o.error_code END,
        last_error = v.last_error,
        sent_at = COALESCE(v.sent_at, o.sent_at),
        next_attempt_at = COALESCE(v.next_attempt_at, o.next_attempt_at)
    FROM v
    WHERE o.id = v.id AND o.status = 'sending'
    RETURNING o.id
), a AS (
    INSERT INTO delivery_attempt (message_id, at, outcome, error_code, detail, provider_id,
                                  meta)
    SELECT v.id, :now, v.outcome, v.error_code, v.last_error, v.provider_id,
           json_build_object('attempt', v.attempts, 'provider', v.provider)
    FROM v JOIN u ON u.id = v.id
    WHERE v.tried
)
SELECT id FROM u
""")


def blocked_many(rows: list) -> dict[int, str]:
    """Why each of ``rows`` must not be sent now (suppressed or unsubscribed). Reads only;
    the caller ends the transaction."""
    from portal.notifications.services import suppressed_addresses

    if not rows:
        return {}
    suppressed = suppressed_addresses({(r.channel, r.recipient) for r in rows})
    sub_ids = {r.subscription_id for r in rows
               if r.subscription_id and r.template != "subscription_confirm"}
    ended = set(db.session.scalars(select(Subscription.id).where(
        Subscription.id.in_(sub_ids), Subscription.status == SubscriptionStatus.UNSUBSCRIBED))
    ) if sub_ids else set()
    reasons = {}
    for row in rows:
        if (row.channel, row.recipient) in suppressed:
            reasons[row.id] = "address on the suppression list"
        elif row.subscription_id in ended and row.template != "subscription_confirm":
            reasons[row.id] = "subscription ended before sending"
    return reasons


class Outcomes:
    """Outcomes not yet written, and how many rows ended in each status."""

    def __init__(self, config):
        """Read the thresholds from ``config``."""
        self.every = max(1, int(config.get("OUTBOX_RECORD_EVERY", 50)))
        self.seconds = float(config.get("OUTBOX_RECORD_SECONDS", 0.5))
        self.most = int(config["OUTBOX_MAX_ATTEMPTS"])
        self.items: list[tuple] = []
        self.first_at = 0.0
        self.statuses: Counter[str] = Counter()

    def add(self, row, result: ProviderResult | None, reason: str | None = None) -> None:
        """Keep the outcome of ``row``: a provider ``result``, or the ``reason`` it was not
        sent (then it ends suppressed)."""
        if not self.items:
            self.first_at = time.monotonic()
        self.items.append((row, result, reason))

    def due(self) -> bool:
        """True when the outcomes held should be written now."""
        return bool(self.items) and (len(self.items) >= self.every
                                     or time.monotonic() - self.first_at >= self.seconds)

    def _values(self, row, result, reason, now) -> dict:
        from portal.notifications.delivery import backoff_seconds

        values = dict.fromkeys(COLUMNS)
        values.update(id=row.id, tried=result is not None, last_error=reason)
        if result is None:
            values["status"] = OutboxStatus.SUPPRESSED
            return values
        tries = (row.attempts or 0) + 1
        values.update(attempts=tries, provider=result.provider, error_code=result.error_code,
                      last_error=result.detail, outcome=str(result.outcome))
        if result.outcome == Outcome.SENT:
            values.update(status=OutboxStatus.SENT, provider_id=result.provider_id,
                          provider_status=result.provider_status, sent_at=now)
        elif result.outcome == Outcome.SUPPRESSED:
            values["status"] = OutboxStatus.SUPPRESSED
        elif result.outcome == Outcome.RETRY and tries < self.most:
            values.update(status=OutboxStatus.PENDING, next_attempt_at=now + timedelta(
                seconds=backoff_seconds(tries)))
        else:
            values["status"] = OutboxStatus.FAILED
        return values

    def write(self) -> None:
        """Write the outcomes held (in the current transaction; the caller commits)."""
        from portal.notifications.subscriptions import suppress

        if not self.items:
            return
        now = utcnow()
        items, self.items = self.items, []
        values = [self._values(row, result, reason, now) for row, result, reason in items]
        if db.session.get_bind().dialect.name == "postgresql":
            params = {name: [v[name] for v in values] for name in COLUMNS}
            written = set(db.session.scalars(RECORD_POSTGRESQL, {**params, "now": now}))
        else:
            written = _write_portable(values, now)
        for (row, result, _reason), value in zip(items, values, strict=True):
            if row.id not in written:
                self.statuses["skipped"] += 1  # no longer ours (e.g. recovered meanwhile)
                continue
            self.statuses[str(value["status"])] += 1
            if result is not None and result.outcome == Outcome.SUPPRESSED:
                suppress(row.channel, row.recipient, f"provider:{result.error_code}")


def _write_portable(values: list[dict], now) -> set[int]:
    """The same transitions as ``RECORD_POSTGRESQL``, for databases without ``unnest``."""
    table = OutboxMessage.__table__
    c = table.c
    written = set(db.session.scalars(select(c.id).where(
        c.id.in_([v["id"] for v in values]), c.status == OutboxStatus.SENDING)))
    rows = [{f"b_{k}": v for k, v in value.items()} for value in values
            if value["id"] in written]
    if not rows:
        return written
    stamp = UTCDateTime()
    statement = update(table).where(c.id == bindparam("b_id"),
                                    c.status == OutboxStatus.SENDING).values(
        status=bindparam("b_status"), lease_until=None, updated_at=now,
        attempts=func.coalesce(bindparam("b_attempts"), c.attempts),
        provider=func.coalesce(bindparam("b_provider"), c.provider),
        provider_id=func.coalesce(bindparam("b_provider_id"), c.provider_id),
        provider_status=func.coalesce(bindparam("b_provider_status"), c.provider_status),
        error_code=case((bindparam("b_tried") == True, bindparam("b_error_code")),  # noqa: E712
                        else_=c.error_code),
        last_error=bindparam("b_last_error"),
        sent_at=func.coalesce(bindparam("b_sent_at", type_=stamp), c.sent_at),
        next_attempt_at=func.coalesce(bindparam("b_next_attempt_at", type_=stamp),
                                      c.next_attempt_at))
    db.session.connection().execute(statement, rows)
    attempts = [{"message_id": v["id"], "at": now, "outcome": v["outcome"],
                 "error_code": v["error_code"], "detail": v["last_error"],
                 "provider_id": v["provider_id"],
                 "meta": {"attempt": v["attempts"], "provider": v["provider"]}}
                for v in values if v["tried"] and v["id"] in written]
    if attempts:
        db.session.connection().execute(insert(DeliveryAttempt.__table__), attempts)
    return written


def call_provider(adapter, message) -> ProviderResult:
    """``adapter.send(message)``; an exception the adapter did not map is a retry."""
    try:
        return adapter.send(message)
    except Exception as error:
        log.exception("adapter %s raised for outbox row %s", adapter.name, message.id)
        return ProviderResult(Outcome.RETRY, adapter.name, error_code="exception",
                              detail=f"{type(error).__name__}: {error}"[:500])


def deliver_rows(rows: list, adapter_for: Callable, deadline: float, counts: Counter,
                 take_token: Callable[[], bool]) -> None:
    """Send leased ``rows`` in order, writing outcomes in bulk; ``counts`` gets the
    resulting statuses. Rows not tried (deadline, send rate, an error) are given back.

    Every commit writes the outcomes held first, so a commit never leaves an outcome that
    could have been written unwritten. Raises when an outcome cannot be written (those rows
    stay leased and are reconciled after their lease).
    """
    from portal.notifications.delivery import release

    config = current_app.config
    recheck = float(config.get("OUTBOX_RECHECK_SECONDS", 1.0))
    outcomes = Outcomes(config)
    blocked: dict[int, str] = {}
    checked_at = -1e9
    done = 0
    try:
        for index, row in enumerate(rows):
            if time.monotonic() > deadline:
                break
            recheck_due = time.monotonic() - checked_at > recheck
            if recheck_due or outcomes.due():
                outcomes.write()
                if recheck_due:
                    blocked = blocked_many(rows[index:])
                    checked_at = time.monotonic()
                db.session.commit()
            if row.id in blocked:
                outcomes.add(row, None, blocked[row.id])
                done = index + 1
                continue
            if row.channel == "sms" and not take_token():
                break
            adapter = adapter_for(row.channel)
            done = index + 1  # from here the row counts as in flight
            outcomes.add(row, call_provider(adapter, row))
        outcomes.write()
        db.session.commit()
    except BaseException:
        try:  # keep what can be kept; what cannot stays leased and is reconciled later
            db.session.rollback()
            outcomes.write()
            db.session.commit()
        except Exception:
            log.exception("could not record outbox outcomes; recovery will reconcile them")
        raise
    finally:
        counts.update(outcomes.statuses)
        if done < len(rows):  # stopped early: the untried rows go back at once
            try:
                release([row.id for row in rows[done:]])
                counts["released"] += len(rows) - done
            except Exception:
                log.exception("could not release leased outbox rows")
