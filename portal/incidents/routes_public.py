"""Public pages: home, incident page, feeds and the email subscription page.

Registered on the ``public`` blueprint. Thin: read through ``queries``, render, serve
through ``http.serve_public`` (cache, ETag, no cookie). Only the subscribe page uses the
session (its form needs CSRF), so the incident page itself stays cacheable.
"""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.extensions import db
from portal.i18n import current_language
from portal.incidents import feeds, queries
from portal.incidents.forms import SubscribeForm
from portal.incidents.http import no_flashes, serve_public
from portal.limits import exempt_from_limits, rate_limit
from portal.notifications import services as notifications
from portal.public import bp
from portal.references import normalise_reference


def _render(template: str, **context) -> str:
    return render_template(template, get_flashed_messages=no_flashes, **context)


@bp.get("/")
@exempt_from_limits
def home():
    """Active incidents most severe first, then the last 30 days resolved; area filter."""
    area = (request.args.get("area") or "").strip()[:120]

    def render() -> str:
        data = queries.home(area)
        if area and not any(code == area for code, _name in data.areas):
            data.area = ""
        return _render("public/home.html", data=data)

    return serve_public(f"home?area={area}", render)


def _found_or_404(reference: str):
    found = queries.public_incident(reference)
    if found is None:
        abort(404)
    return found


@bp.get("/incidents/<reference>")
@exempt_from_limits
def incident(reference: str):
    """One incident: summary, affected areas, expected recovery, timeline.

    A cache hit touches no database: the incident is looked up only when rendering.
    """
    canonical = normalise_reference(reference)
    if canonical != reference:
        return redirect(url_for("public.incident", reference=canonical, **request.args), 301)

    def render() -> str:
        found = _found_or_404(reference)
        return _render("incidents/incident.html", incident=found,
                       timeline=queries.timeline(found))

    return serve_public(f"incident/{reference}", render)


@bp.get("/feed.atom")
@exempt_from_limits
def site_feed():
    """Atom feed of every public update."""
    return serve_public("feed", lambda: feeds.site_feed(current_language()),
                        feeds.CONTENT_TYPE)


@bp.get("/incidents/<reference>/feed.atom")
@exempt_from_limits
def incident_feed(reference: str):
    """Atom feed of one incident's updates."""
    reference = normalise_reference(reference)
    return serve_public(
        f"feed/{reference}",
        lambda: feeds.incident_feed(_found_or_404(reference), current_language()),
        feeds.CONTENT_TYPE)


@bp.route("/incidents/<reference>/subscribe", methods=["GET", "POST"])
@rate_limit("RATELIMIT_INCIDENT_SUBSCRIBE", methods=["POST"])
def subscribe(reference: str):
    """Subscribe to an incident by email (double opt-in: a confirmation link is sent)."""
    found = queries.public_incident(reference)
    if found is None or found.state == "resolved":
        abort(404)
    form = SubscribeForm()
    if form.validate_on_submit():
        try:
            notifications.subscribe("email", form.email.data, "incident", found.reference,
                                    current_language(), "web")
        except notifications.SubscriptionError:
            db.session.rollback()
            form.email.errors.append(_("Please enter a valid email address."))
        else:
            db.session.commit()
            # The same answer whether the address was new, pending or confirmed.
            return render_template("incidents/subscribe_sent.html", incident=found,
                                   hours=current_app.config.get("SUBSCRIPTION_CONFIRM_HOURS",
                                                                72))
    return render_template("incidents/subscribe.html", incident=found, form=form)
