"""Operations endpoints: health and metrics."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from portal.ops import routes  # noqa: E402,F401
