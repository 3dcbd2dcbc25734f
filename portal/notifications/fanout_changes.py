"""Fan-out of per-subject changes: each changed subject (e.g. a parcel an import listed
or changed) notifies that subject's confirmed subscribers once, set-based.

The message is rendered once per channel and language with a marker per changing field;
one ``INSERT ... SELECT`` from ``subscription JOIN changes`` per group writes the rows and
the database fills each field in, so the bodies differ per subject without a Python loop
per subject. Shares the outbox column set and the suppression join of ``fanout``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import String, and_, cast, func, literal, select

from portal.db import utcnow
from portal.extensions import db
from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES
from portal.notifications import sms
from portal.notifications.fanout import (
    TOKEN_LENGTH,
    _insert_select,
    _outbox_columns,
    _sha_expression,
    _sqlite_functions,
)
from portal.notifications.links import unsubscribe_url
from portal.notifications.models import (
    Channel,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from portal.notifications.rendering import personalise_email, render

#: field name -> function(language, html) giving the SQL value of that field for a change
FieldSql = Callable[[str, bool], Any]


def _filled(text: str, markers: dict[str, Any]):
    """SQL: ``text`` with each marker replaced by its SQL expression (``||``)."""
    pieces = re.split("(" + "|".join(re.escape(m) for m in markers) + ")", text)
    expression = literal(pieces[0], String)
    for piece in pieces[1:]:
        expression = expression + (markers[piece] if piece in markers
                                   else literal(piece, String))
    return expression


def fan_out_changes(template: str, topic_type: str, changes, fields: dict[str, FieldSql],
                    context: dict, event_base: str) -> int:
    """Notify the confirmed subscribers of each changed subject once, set-based.

    ``changes`` is a subquery with the columns ``topic_key`` (e.g. a tracking number),
    ``change_key`` (unique per change, e.g. the parcel id) and whatever ``fields`` read.
    Per (channel, language) of the subscribers reached, the template is rendered once
    with a marker per field, then one ``INSERT ... SELECT`` from ``subscription JOIN
    changes`` writes the rows, the database filling each field in (so the body differs
    per subject without a Python loop per subject). Idempotency key
    ``<event_base>:<change_key>:<channel>:<address digest>``: calling again writes nothing
    twice. Suppressed addresses get a ``suppressed`` row, like :func:`fan_out`; "all"
    subscriptions are not reached (a change of one subject is not general news). SMS are
    not shortened (the body depends on the row; keep such templates short). Returns the
    number of rows written; flush-free, in the caller's transaction.
    """
    config = current_app.config
    dialect = db.session.get_bind().dialect.name
    confirmed = and_(Subscription.status == SubscriptionStatus.CONFIRMED,
                     Subscription.topic_type == topic_type)
    anyone = select(Subscription.id).where(confirmed).limit(1)
    reached = anyone.join(changes, changes.c.topic_key == Subscription.topic_key)
    if db.session.execute(anyone).first() is None or \
            db.session.execute(reached).first() is None:
        return 0  # nobody follows this kind of subject, or none of the changed ones
    if dialect == "sqlite":
        _sqlite_functions()
    groups = db.session.execute(
        select(Subscription.channel, Subscription.language).join(
            changes, changes.c.topic_key == Subscription.topic_key).where(confirmed)
        .distinct()).all()
    now = utcnow()
    token = "Q" + secrets.token_hex(TOKEN_LENGTH)[:TOKEN_LENGTH - 1]
    markers = {name: f"Z{secrets.token_hex(8).upper()}Z" for name in fields}
    signature = config.get("SMS_SIGNATURE", "")
    total = 0
    for channel, language in sorted(groups):
        lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
        rendered = render(channel, template, lang, {**context, **markers})
        values = {markers[name]: sql(lang, False) for name, sql in fields.items()}
        in_html = {markers[name]: sql(lang, True) for name, sql in fields.items()}
        in_html[token] = values[token] = Subscription.unsubscribe_token
        group = and_(confirmed, Subscription.channel == channel,
                     Subscription.language == language)
        variants = []
        if channel == Channel.SMS:
            footer = (" " + rendered.footer_text) if rendered.footer_text else ""
            mainland = Subscription.address.like("+86%")
            for sample, match in (("+8613800000000", mainland), ("+85200000000", ~mainland)):
                body = sms.with_signature(rendered.text.strip(), sample, signature) + footer
                variants.append((and_(group, match), _filled(body, values),
                                 literal(None, String), literal("", String)))
        else:
            text, html = personalise_email(rendered, unsubscribe_url(token, lang))
            variants.append((group, _filled(text, values),
                             _filled(html, in_html) if html is not None
                             else literal(None, String),
                             func.substr(_filled(rendered.subject, values), 1, 300)))
        for condition, body_text, body_html, subject in variants:
            total += _insert_changes(dialect, template, event_base, lang, now, changes,
                                     condition, body_text, body_html, subject)
    if total:
        from portal.notifications.dispatch import note_outbox_rows

        note_outbox_rows(db.session, total)
    return total


def _insert_changes(dialect, template, event_base, language, now, changes, condition,
                    body_text, body_html, subject) -> int:
    change = cast(changes.c.change_key, String)
    columns = _outbox_columns(
        literal(f"{event_base}:", String) + change + literal(":", String)
        + Subscription.channel + literal(":", String) + cast(_sha_expression(dialect), String),
        func.substr(literal(f"{event_base}:", String) + change, 1, 120), template, language,
        now, Suppression.address.is_not(None), body_text, body_html, subject)
    subscriptions = Subscription.__table__.join(
        changes, changes.c.topic_key == Subscription.topic_key)
    return _insert_select(dialect, columns, subscriptions, condition)
