"""Celery entry point: ``celery -A portal.worker worker -B -s <schedule file>``.

This is the only module that builds the Flask app at import time (a worker process needs
one); everything else gets it from ``create_app``.
"""

from portal import create_app

flask_app = create_app()
celery = app = flask_app.extensions["celery"]
