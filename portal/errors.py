"""Error pages in the reader's language, JSON bodies for the API, rollback on 500."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db

log = logging.getLogger("portal.errors")


def wants_json() -> bool:
    """True for API paths and clients that prefer JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]


def error_message(code: int) -> tuple[str, str]:
    """Return a translated (title, explanation) pair for an HTTP status code."""
    messages = {
        400: (_("Bad request"),
              _("The request could not be understood. Please check what you entered.")),
        401: (_("Sign-in required"), _("Please sign in to continue.")),
        403: (_("Not allowed"), _("You do not have permission to do this.")),
        404: (_("Page not found"), _("The page you asked for does not exist or has moved.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        413: (_("File too large"), _("What you sent is larger than we accept.")),
        429: (_("Too many requests"),
              _("You have made too many requests. Please wait a moment and try again.")),
        500: (_("Something went wrong"),
              _("An error occurred on our side. Nothing you submitted was half-saved; "
                "please try again.")),
    }
    return messages.get(code, (_("Error"), _("The request could not be completed.")))


def render_error(code: int, detail: str | None = None):
    """Render the error as JSON or HTML in the reader's language."""
    title, explanation = error_message(code)
    if wants_json():
        body = {"error": {"status": code, "title": title, "message": detail or explanation}}
        return jsonify(body), code
    return render_template("errors/error.html", code=code, title=title,
                           explanation=detail or explanation), code


def init_errors(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(400, _("The form expired or was sent from another page. "
                                   "Please reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 429:
            return render_error(429)
        if error.code is None or error.code < 400:
            return error
        detail = getattr(error, "portal_message", None)
        return render_error(error.code, detail)

    @app.errorhandler(Exception)
    def unhandled(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        db.session.rollback()
        log.exception("unhandled error", extra={"event": "error.500"})
        return render_error(InternalServerError.code)
