"""Set-based fan-out: one ``INSERT ... SELECT`` of outbox rows per (channel, language)
group, instead of one Python object per subscriber.

``fan_out`` writes the rows :func:`~portal.notifications.services.notify_subscribers`
promises (same idempotency keys, same bodies, same suppression rule) for every confirmed
subscriber of the topics, in the caller's transaction:

1. Topics are widened by registered expansions: the hotline feature registers
   "incident X" -> "parcel subscribers of every parcel listed on incident X", so a
   customer who subscribed to their parcel hears about its incident.
2. The (channel, language) pairs present are read with one small ``SELECT DISTINCT``; each
   is rendered once (SMS twice: with and without the +86 signature).
3. Per pair, one ``INSERT INTO outbox_message (...) SELECT ... FROM subscription ...
   ON CONFLICT (idempotency_key) DO NOTHING``. The idempotency key
   ``<event>:<channel>:<sha256(channel:address)[:20]>`` is computed by the database
   (PostgreSQL's ``sha256``; on SQLite a deterministic function registered on the
   connection), so a subscriber already written for this event (another topic of the same
   announcement, an earlier call) is skipped by the unique index, not by Python. Email
   bodies carry each subscriber's unsubscribe token: the rendered body is split around it
   and the database concatenates ``prefix || token || suffix``.
4. Subscriptions to the topic itself go first, then those to "all", so someone on both
   gets one message whose unsubscribe link ends the topic subscription.
5. A suppressed address gets a row in state ``suppressed`` (never sent), like ``notify``.

The statement is the same shape as a bare ``INSERT ... SELECT`` (bench/hotline measures
the two side by side). Nothing is loaded into Python; the returned :class:`FanOutRows`
knows how many rows were written and loads them only if someone iterates.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import String, and_, case, cast, distinct, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.db import utcnow
from portal.extensions import db
from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES
from portal.notifications import sms
from portal.notifications.links import unsubscribe_url
from portal.notifications.models import (
    Channel,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from portal.notifications.rendering import personalise_email, render

#: topic_type -> functions(topic_key) returning (other_topic_type, SELECT of topic keys)
Expansion = Callable[[str], tuple[str, Any]]
_EXPANSIONS: dict[str, list[Expansion]] = {}

SUPPRESSED_NOTE = "address on the suppression list"
TOKEN_LENGTH = 43  # secrets.token_urlsafe(32), the only kind of unsubscribe token issued


def register_expansion(topic_type: str, expansion: Expansion) -> None:
    """Also reach subscribers of other topics when ``topic_type`` is announced.

    ``expansion(topic_key)`` returns ``(other_type, select_of_keys)``; registering the same
    function twice has no effect."""
    found = _EXPANSIONS.setdefault(topic_type, [])
    if expansion not in found:
        found.append(expansion)


def expanded_topics(topic_type: str, topic_key: str) -> list[tuple[str, Any]]:
    """The topic itself (as a one-value key list) and its registered expansions."""
    topics: list[tuple[str, Any]] = [(topic_type, [topic_key])]
    for expansion in _EXPANSIONS.get(topic_type, []):
        topics.append(expansion(topic_key))
    return topics


def _topic_filter(topics: list[tuple[str, Any]]):
    clauses = []
    for kind, keys in topics:
        if isinstance(keys, list | tuple):
            clauses.append(and_(Subscription.topic_type == kind,
                                Subscription.topic_key.in_(list(keys))))
        else:
            clauses.append(and_(Subscription.topic_type == kind,
                                Subscription.topic_key.in_(keys)))
    return or_(*clauses)


def _sha_expression(dialect: str):
    """SQL for ``sha256(channel || ':' || address)`` as hex, first 20 characters."""
    joined = Subscription.channel + literal(":") + Subscription.address
    if dialect == "postgresql":
        digest = func.encode(func.sha256(func.convert_to(joined, literal("UTF8"))),
                             literal("hex"))
        return func.substr(digest, 1, 20)
    return func.portal_sha256_20(joined)


def _sqlite_functions() -> None:
    """Register the digest function on this transaction's SQLite connection."""
    raw = db.session.connection().connection.driver_connection
    raw.create_function(
        "portal_sha256_20", 1,
        lambda text: hashlib.sha256(text.encode()).hexdigest()[:20] if text is not None
        else None, deterministic=True)


def _key_base(event_key: str) -> str:
    from portal.notifications.services import idempotency_key

    # idempotency_key(base, channel, address) == f"{short(base)}:{channel}:{digest}"
    probe = idempotency_key(event_key, "x", "y")
    return probe[:-len(":x:") - 20]


def _split(text: str, marker: str) -> list[str]:
    return text.split(marker)


def _joined(parts: list[str]):
    """SQL: ``parts[0] || token || parts[1] || token || ...``."""
    expression = literal(parts[0], String)
    for part in parts[1:]:
        expression = expression + Subscription.unsubscribe_token + literal(part, String)
    return expression


class FanOutRows(Sequence):
    """The rows a fan-out wrote: ``len()`` is free, iterating loads them once."""

    def __init__(self, count: int, event_key: str, created_at, template: str):
        """Remember how to find the rows (this call's event and timestamp)."""
        self.count = count
        self._where = (event_key[:120], created_at, template)
        self._rows: list[OutboxMessage] | None = None

    def _load(self) -> list[OutboxMessage]:
        if self._rows is None:
            if not self.count:
                self._rows = []
            else:
                event_key, created_at, template = self._where
                self._rows = list(db.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.event_key == event_key,
                                                OutboxMessage.created_at == created_at,
                                                OutboxMessage.template == template)
                    .order_by(OutboxMessage.id)))
        return self._rows

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        return self._load()[index]

    def __iter__(self) -> Iterator[OutboxMessage]:
        return iter(self._load())

    def __eq__(self, other) -> bool:
        if isinstance(other, list | tuple | FanOutRows):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<FanOutRows {self.count}>"


def _groups(where, channels: set[str] | None) -> list[tuple[str, str]]:
    query = select(Subscription.channel, Subscription.language).where(where).distinct()
    pairs = []
    for channel, language in db.session.execute(query):
        if channels is not None and channel not in channels:
            continue
        pairs.append((channel, language))
    return sorted(pairs)


def fan_out(template: str, topic_type: str, topic_key: str, context: dict, event_key: str,
            channels: set[str] | None = None) -> FanOutRows:
    """Write one outbox row per confirmed subscriber of the topic (its expansions, and
    "all"), once per (channel, address) and event; flush-free, in the caller's
    transaction. Returns the rows written by this call (lazily loaded)."""
    config = current_app.config
    dialect = db.session.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_functions()
    db.session.flush()  # ORM changes first: the INSERT reads the tables directly
    now = utcnow()
    key_base = _key_base(event_key)
    topic_where = _topic_filter(expanded_topics(topic_type, topic_key))
    confirmed = Subscription.status == SubscriptionStatus.CONFIRMED
    phases = [and_(confirmed, topic_where), and_(confirmed, Subscription.topic_type == "all")]
    suppressed = Suppression.address.is_not(None)  # from the LEFT JOIN below
    digest = _sha_expression(dialect)
    signature = config.get("SMS_SIGNATURE", "")
    max_segments = int(config.get("SMS_MAX_SEGMENTS", 3))
    marker = "Q" + secrets.token_hex(TOKEN_LENGTH)[:TOKEN_LENGTH - 1]
    rendered_cache: dict[tuple[str, str], Any] = {}
    total = 0
    for where in phases:
        for channel, language in _groups(where, channels):
            lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
            if (channel, lang) not in rendered_cache:
                rendered_cache[(channel, lang)] = render(channel, template, lang, context)
            rendered = rendered_cache[(channel, lang)]
            group = and_(where, Subscription.channel == channel,
                         Subscription.language == language)
            variants = []
            if channel == Channel.SMS:
                suffix = (" " + rendered.footer_text) if rendered.footer_text else ""
                for mainland in (True, False):
                    sample = "+8613800000000" if mainland else "+85200000000"
                    body = sms.prepare(rendered.text, sample, signature, max_segments,
                                       suffix=suffix)
                    match = Subscription.address.like("+86%")
                    variants.append((and_(group, match if mainland else ~match),
                                     literal(body, String), literal(None, String),
                                     literal("", String)))
            else:
                text, html = personalise_email(rendered, unsubscribe_url(marker, lang))
                variants.append((group, _joined(_split(text, marker)),
                                 _joined(_split(html, marker)) if html is not None
                                 else literal(None, String),
                                 literal(rendered.subject[:300], String)))
            for condition, body_text, body_html, subject in variants:
                total += _insert_group(dialect, template, event_key, key_base, lang, now,
                                       condition, digest, suppressed, body_text, body_html,
                                       subject)
    if total:
        from portal.notifications.dispatch import note_outbox_rows

        note_outbox_rows(db.session, total)
    return FanOutRows(total, event_key, now, template)


def _insert_group(dialect, template, event_key, key_base, language, now, condition, digest,
                  suppressed, body_text, body_html, subject) -> int:
    columns = _outbox_columns(
        literal(f"{key_base}:", String) + Subscription.channel + literal(":", String)
        + cast(digest, String), literal(event_key[:120], String), template, language, now,
        suppressed, body_text, body_html, subject)
    return _insert_select(dialect, columns, Subscription.__table__, condition)


def _outbox_columns(idempotency_key, event_key, template, language, now, suppressed,
                    body_text, body_html, subject) -> dict:
    """The outbox row's columns as SQL over ``subscription`` (+ the suppression join)."""
    return {
        "idempotency_key": idempotency_key,
        "channel": Subscription.channel,
        "recipient": Subscription.address,
        "language": literal(language, String),
        "template": literal(template, String),
        "event_key": event_key,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "subscription_id": Subscription.id,
        "status": case((suppressed, literal(OutboxStatus.SUPPRESSED.value, String)),
                       else_=literal(OutboxStatus.PENDING.value, String)),
        "attempts": literal(0),
        "next_attempt_at": literal(now, OutboxMessage.__table__.c.next_attempt_at.type),
        "last_error": case((suppressed, literal(SUPPRESSED_NOTE, String)),
                           else_=literal(None, String)),
        "created_at": literal(now, OutboxMessage.__table__.c.created_at.type),
        "updated_at": literal(now, OutboxMessage.__table__.c.updated_at.type),
    }


def _insert_select(dialect, columns: dict, subscriptions, condition) -> int:
    """``INSERT INTO outbox_message ... SELECT`` over ``subscriptions`` (the table or a
    join with it) ``ON CONFLICT (idempotency_key) DO NOTHING``; returns the rows written."""
    # one probe of the suppression list per row (a LEFT JOIN, not a subquery per column)
    joined = subscriptions.outerjoin(
        Suppression.__table__, and_(Suppression.channel == Subscription.channel,
                                    Suppression.address == Subscription.address))
    source = select(*columns.values()).select_from(joined).where(condition)
    module = postgresql if dialect == "postgresql" else sqlite
    statement = (module.insert(OutboxMessage.__table__)
                 .from_select(list(columns), source)
                 .on_conflict_do_nothing(index_elements=["idempotency_key"]))
    result = db.session.connection().execute(
        statement.execution_options(preserve_rowcount=True))
    return max(0, result.rowcount or 0)


__all__ = ["FanOutRows", "expanded_topics", "fan_out", "register_expansion"]


def count_reach(topics: list[tuple[str, str]]) -> dict[str, int]:
    """How many distinct addresses per channel an announcement to ``topics`` (with their
    expansions, and "all") would reach, leaving out suppressed addresses. One query."""
    where = or_(*[_topic_filter(expanded_topics(kind, key)) for kind, key in topics],
                Subscription.topic_type == "all")
    query = (
        select(Subscription.channel, func.count(distinct(Subscription.address)))
        .outerjoin(Suppression, and_(Suppression.channel == Subscription.channel,
                                     Suppression.address == Subscription.address))
        .where(Subscription.status == SubscriptionStatus.CONFIRMED, where,
               Suppression.address.is_(None))
        .group_by(Subscription.channel)
    )
    counts = {"email": 0, "sms": 0}
    counts.update({channel: int(total) for channel, total in db.session.execute(query)})
    return counts
