"""Tell the customers following a parcel that an import changed it.

After an import (file, CLI, background job or API push) the parcels whose situation or new
expected date the batch changed, and the parcels it newly listed, are joined to the
confirmed ``parcel`` subscriptions by tracking number in one ``INSERT ... SELECT`` per
channel and language (``notifications.fanout_changes.fan_out_changes``): one message per change
and subscriber, in their language, written to the outbox in the import's transaction.
Nothing is loaded into Python, and with no parcel subscriber it costs one indexed probe.

A re-import of the same file changes nothing and so notifies nobody; undoing a batch
notifies nobody (it restores what customers were last told was replaced, and a batch is
usually undone because it was a mistake: see docs/decisions.md).
"""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy import String, case, cast, exists, func, literal, or_, select

from portal.extensions import db
from portal.incidents.models import Incident
from portal.notifications.fanout_changes import fan_out_changes
from portal.parcels.labels import SITUATION_LABELS
from portal.parcels.models import AffectedParcel, HistoryKind, ParcelHistory, ParcelImport

TEMPLATE = "parcel_changed"


def changed_parcels(batch: ParcelImport):
    """SELECT of the parcels ``batch`` listed or whose situation or new expected date it
    changed: ``topic_key`` (tracking number), ``change_key`` (parcel id), ``situation``,
    ``expected_delivery``."""
    history = ParcelHistory
    changed = exists().where(
        history.parcel_id == AffectedParcel.id, history.batch_id == batch.id,
        history.kind != HistoryKind.DEACTIVATED,
        or_(history.situation.is_distinct_from(history.prev_situation),
            history.expected_delivery.is_distinct_from(history.prev_expected_delivery)))
    return (select(AffectedParcel.tracking_number.label("topic_key"),
                   AffectedParcel.id.label("change_key"), AffectedParcel.situation,
                   AffectedParcel.expected_delivery)
            .where(AffectedParcel.incident_id == batch.incident_id,
                   AffectedParcel.active.is_(True),
                   or_(AffectedParcel.created_batch_id == batch.id, changed))
            .subquery("changed"))


def _situation_sql(changes):
    def label(language: str, html: bool):
        with force_locale(language):
            names = {key: str(text) for key, text in SITUATION_LABELS.items()}
        if html:
            names = {key: str(escape(text)) for key, text in names.items()}
        whens = [(changes.c.situation == key, literal(text, String))
                 for key, text in names.items() if key is not None]
        return case(*whens, else_=literal(names[None], String))
    return label


def _date_sql(changes):
    def day(language: str, html: bool):
        with force_locale(language):
            unknown = str(_l("not yet known"))
        if db.session.get_bind().dialect.name == "postgresql":
            text = func.to_char(changes.c.expected_delivery, literal("YYYY-MM-DD"))
        else:
            text = cast(changes.c.expected_delivery, String)
        return func.coalesce(text, literal(str(escape(unknown)) if html else unknown, String))
    return day


def notify_changes(batch: ParcelImport) -> int:
    """Write the outbox rows for the parcels ``batch`` changed; returns how many.

    Only for a published incident: a draft or a drill tells no customer anything (when a
    draft is published, its bulletin reaches the parcels' followers)."""
    incident = db.session.get(Incident, batch.incident_id)
    if incident is None or not incident.is_public:
        return 0
    changes = changed_parcels(batch)
    fields = {
        "tracking_number": lambda _language, _html: changes.c.topic_key,
        "situation": _situation_sql(changes),
        "expected_delivery": _date_sql(changes),
    }
    context = {"reference": incident.reference, "title": incident.title,
               "incident_path": f"/incidents/{incident.reference}"}
    return fan_out_changes(TEMPLATE, "parcel", changes, fields, context,
                           f"parcel-change:{batch.id}")


__all__ = ["changed_parcels", "notify_changes"]
