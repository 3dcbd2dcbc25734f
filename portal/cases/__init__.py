"""Complaints and compensation claims: the form, the compensation policy, cases with a
lifecycle, and the customer's status page.

``init_app`` (called from ``create_app``'s ``register_blueprints``) registers the public
and staff blueprints, the CLI group, the template helpers and the request-size limit of
the claim pages (evidence uploads: ``CASES_MAX_REQUEST_BYTES``).
"""

from __future__ import annotations

from flask import Flask, request

UPLOAD_ENDPOINTS = ("cases.new", "cases.message")


def _limit_upload_size() -> None:
    """Bound the request body of the upload pages before anything reads the form."""
    from flask import current_app

    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = int(current_app.config["CASES_MAX_REQUEST_BYTES"])


def init_app(app: Flask) -> None:
    """Wire the cases feature into ``app``."""
    from portal.cases import tasks  # noqa: F401 - registers the Celery tasks
    from portal.cases.cli import cases_cli
    from portal.cases.forms import KIND_LABELS, TYPE_LABELS
    from portal.cases.routes_public import bp
    from portal.cases.routes_staff import bp as staff_bp
    from portal.cases.views import EVIDENCE_CODES, STATE_LABELS, yuan
    from portal.notifications.stencil import slot_aware

    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    app.cli.add_command(cases_cli)
    # first, so the limit applies before CSRF protection parses the form
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_upload_size)
    app.jinja_env.globals.update(CASE_TYPE_LABELS=TYPE_LABELS, CASE_KIND_LABELS=KIND_LABELS,
                                 CASE_STATE_LABELS=STATE_LABELS,
                                 CASE_EVIDENCE_CODES=EVIDENCE_CODES)
    app.jinja_env.filters["yuan"] = slot_aware(yuan)  # messages' stencils print amounts
