"""Public parcel pages: look-up, details after the last-4 check, subscribe.

The look-up is a GET form (bookmarkable), served through the incidents feature's page
cache (``serve_public``: no cookie, ETag, short max-age). Details and subscriptions are
POST forms on their own pages, which do use the session (CSRF).
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _

from portal.extensions import db
from portal.i18n import current_language
from portal.incidents.http import no_flashes, serve_public
from portal.limits import rate_limit
from portal.notifications import services as notifications
from portal.parcels import queries, tracking
from portal.parcels.forms import DetailsForm, SubscribeForm

bp = Blueprint("parcels", __name__)

MAX_QUERY = 4000


@bp.get("/parcels")
@rate_limit("RATELIMIT_PARCEL_LOOKUP")
def lookup():
    """Answer up to 50 pasted numbers: affected, not listed, or malformed."""
    q = (request.args.get("q") or "")[:MAX_QUERY]

    def render() -> str:
        lines, truncated = queries.lookup(q)
        return render_template("parcels/lookup.html", q=q, lines=lines, truncated=truncated,
                               limit=tracking.MAX_PER_LOOKUP,
                               get_flashed_messages=no_flashes)

    digest = hashlib.blake2b(q.encode(), digest_size=16).hexdigest()
    return serve_public(f"parcels?q={digest}", render)


def _number_or_400(number: str) -> tracking.Checked:
    checked = tracking.validate(number[:100])
    if not checked.ok:
        abort(400, description=checked.message)
    return checked


@bp.route("/parcels/<path:number>/details", methods=["GET", "POST"])
@rate_limit("RATELIMIT_PARCEL_DETAILS", methods=["POST"])
def details(number: str):
    """Ask for the last 4 digits; show the situation history only when they match."""
    checked = _number_or_400(number)
    form = DetailsForm()
    result = None
    if form.validate_on_submit():
        result = queries.details(checked.number, form.digits.data)
        db.session.commit()
        if result.ok:
            return render_template("parcels/details.html", number=checked.number,
                                   parcels=result.parcels)
    elif request.method == "POST":
        result = queries.DetailsResult(ok=False, malformed=True)
    status = 429 if result is not None and result.locked else 200
    return render_template("parcels/details_form.html", number=checked.number, form=form,
                           result=result,
                           lockout_minutes=current_app.config.get("VERIFY_LOCKOUT_MINUTES",
                                                                  30)), status


@bp.route("/parcels/<path:number>/subscribe", methods=["GET", "POST"])
@rate_limit("RATELIMIT_PARCEL_SUBSCRIBE", methods=["POST"])
def subscribe(number: str):
    """Subscribe to news about one parcel by SMS or email (confirmed by a link)."""
    checked = _number_or_400(number)
    form = SubscribeForm()
    if form.validate_on_submit():
        try:
            notifications.subscribe(form.channel.data, form.address.data, "parcel",
                                    checked.number, current_language(), "web")
        except notifications.SubscriptionError:
            db.session.rollback()
            form.address.errors.append(
                _("Please enter a valid mobile number or email address."))
        else:
            db.session.commit()
            return render_template("parcels/subscribe_sent.html", number=checked.number,
                                   channel=form.channel.data)
    return render_template("parcels/subscribe.html", number=checked.number, form=form)
