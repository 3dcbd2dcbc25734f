"""Staff accounts, roles, sign-in, audit log and API tokens."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

from portal.staff import auth, routes  # noqa: E402,F401
