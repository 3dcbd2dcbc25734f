"""JSON API for carrier systems and public read-only data, under ``/api/v1``."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from portal.api import routes  # noqa: E402,F401
