"""Celery entry point: ``celery -A portal.worker worker -B -s <schedule file>``.

This is the only module that builds the Flask app at import time (a worker process needs
one); everything else gets it from ``create_app``. It also warms the process up (before a
prefork pool forks, so every child shares it): SQLAlchemy's mappers and the delivery
adapters are loaded here, not by the first task, which would otherwise take a second or
two longer than the others.
"""

import logging

from portal import create_app

log = logging.getLogger("portal.worker")


def warm_up(app) -> None:
    """Configure the mappers and build each channel's adapter (importing its SDK)."""
    from sqlalchemy.orm import configure_mappers

    from portal.notifications import delivery

    configure_mappers()
    with app.app_context():
        for channel in ("sms", "email"):
            try:
                delivery.get_adapter(channel).warm_up()
            except Exception as error:  # not configured here: the first send will say so
                log.warning("could not warm up the %s adapter: %s", channel, error)


flask_app = create_app()
warm_up(flask_app)
celery = app = flask_app.extensions["celery"]
