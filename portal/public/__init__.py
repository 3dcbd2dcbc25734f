"""Public pages for customers: the incident site (routes in ``portal.incidents``)."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from portal.incidents import routes_public  # noqa: E402,F401
