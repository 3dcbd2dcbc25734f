"""Public subscription pages (confirm, unsubscribe) and the staff page of failed messages.

Links in messages open a page with a button; only the POST acts, because mail scanners
fetch links. The unsubscribe POST is exempt from CSRF so RFC 8058 one-click unsubscribe
works: the unguessable token in the URL is what authorises it.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.extensions import csrf, db
from portal.notifications import delivery, queries
from portal.notifications import subscriptions as subs
from portal.notifications.forms import ActionForm, RetryForm
from portal.staff.permissions import has_permission, require_permission

bp = Blueprint("notifications", __name__)


def _bad_token(error: subs.SubscriptionError):
    return render_template("notifications/token_invalid.html", reason=error.code), 404


@bp.route("/subscriptions/confirm/<token>", methods=["GET", "POST"])
def confirm_subscription(token: str):
    """GET: a page with a confirm button; POST: confirm the subscription."""
    form = ActionForm()
    try:
        sub = subs.find_by_confirm_token(token)
        if form.validate_on_submit():
            sub = subs.confirm(token)
            db.session.commit()
            return render_template("notifications/confirmed.html", subscription=sub)
    except subs.SubscriptionError as error:
        return _bad_token(error)
    return render_template("notifications/confirm.html", form=form, subscription=sub)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    """GET: a page with an unsubscribe button; POST: end the subscription."""
    form = ActionForm(meta={"csrf": False})
    try:
        sub = subs.find_by_unsubscribe_token(token)
        if form.is_submitted():
            sub = subs.unsubscribe(token)
            db.session.commit()
            return render_template("notifications/unsubscribed.html", subscription=sub,
                                   form=ActionForm(), token=token)
    except subs.SubscriptionError as error:
        return _bad_token(error)
    return render_template("notifications/unsubscribe.html", form=form, subscription=sub,
                           token=token)


@bp.post("/unsubscribe/<token>/resubscribe")
def resubscribe(token: str):
    """Undo an unsubscribe."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        sub = subs.resubscribe(token)
    except subs.SubscriptionError as error:
        if error.code == "suppressed":
            db.session.rollback()
            flash(_("This number asked not to receive messages. Text START to the hotline "
                    "to receive messages again."), "error")
            return redirect(url_for(".unsubscribe", token=token))
        return _bad_token(error)
    db.session.commit()
    return render_template("notifications/confirmed.html", subscription=sub)


@bp.get("/staff/notifications/failed")
@require_permission("notifications.view_failed")
def failed():
    """Failed and long-pending messages, with retry buttons for those allowed."""
    rows = queries.failed_and_stale()
    return render_template(
        "notifications/failed.html", rows=rows, form=RetryForm(), mask=queries.mask_address,
        can_retry=has_permission(current_user, "notifications.retry"),
        failed_ids=",".join(str(r.id) for r in rows if r.status == "failed"))


@bp.post("/staff/notifications/failed/retry")
@require_permission("notifications.retry")
def retry():
    """Put the chosen failed rows back to pending."""
    form = RetryForm()
    if not form.validate_on_submit():
        abort(400)
    ids = form.id_list()
    count = delivery.retry_failed(ids)
    _audit("notifications.retry", ",".join(map(str, ids))[:80], ids=ids, count=count)
    db.session.commit()
    flash(_("%(count)d message(s) will be sent again.", count=count), "success")
    return redirect(url_for(".failed"))


@bp.get("/staff/notifications/deliveries")
@require_permission("notifications.view_failed")
def deliveries():
    """Per update (event): how many messages are queued, sent, delivered, failed."""
    return render_template("notifications/deliveries.html", events=queries.recent_events(),
                           columns=queries.STAT_COLUMNS)


@bp.get("/staff/notifications/deliveries/<path:event_key>")
@require_permission("notifications.view_failed")
def delivery_stats(event_key: str):
    """One update's delivery: counts per channel and state, and why messages failed."""
    stats = queries.event_stats(event_key)
    if not stats["totals"]["total"]:
        abort(404)
    return render_template("notifications/delivery_stats.html", stats=stats,
                           columns=queries.STAT_COLUMNS, form=ActionForm(),
                           can_retry=has_permission(current_user, "notifications.retry"))


@bp.post("/staff/notifications/deliveries/<path:event_key>/retry")
@require_permission("notifications.retry")
def retry_event(event_key: str):
    """Send every failed message of one update again."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    count = delivery.retry_failed_event(event_key)
    _audit("notifications.retry_event", event_key[:80], event_key=event_key, count=count)
    db.session.commit()
    flash(_("%(count)d message(s) will be sent again.", count=count), "success")
    return redirect(url_for(".delivery_stats", event_key=event_key))


def _audit(action: str, target_id: str, **detail) -> None:
    """Audit-log a staff action when the staff audit module is present."""
    try:
        from portal.staff.audit import record
    except ImportError:
        return
    record(action, target_type="outbox_message", target_id=target_id, **detail)
