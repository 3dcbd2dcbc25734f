"""Public home page."""

from flask import render_template

from portal.public import bp


@bp.get("/")
def home():
    """The public home page."""
    return render_template("public/home.html")
