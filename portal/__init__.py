"""The incident communication portal: application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app: settings, extensions, blueprints, errors, CLI.

    ``config`` overrides settings read from the environment (tests use it).
    """
    from portal.config import check_production, load_config

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "portal" / "static"),
        instance_relative_config=True,
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    check_production(app.config)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_limits(app)
    register_errors(app)
    register_cli(app)
    register_background(app)
    announce_mode(app)
    return app


def register_logging(app: Flask) -> None:
    """JSON logs with request ids."""
    from portal.logs import configure_logging

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    """Bind database, migrations, mail, login, CSRF, Babel, limits and headers."""
    from portal import i18n
    from portal.extensions import babel, csrf, db, login_manager, mail, migrate
    from portal.security import init_security

    import_models()
    db.init_app(app)
    __import__("portal.config_cache", fromlist=["install"]).install()
    __import__("portal.db", fromlist=["install_session_hooks"]).install_session_hooks()
    __import__("portal.multipart", fromlist=["install"]).install()
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    mail.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale_object,
                   default_translation_directories=app.config["BABEL_TRANSLATION_DIRECTORIES"])
    login_manager.init_app(app)
    init_security(app)

    from portal.db_events import (
        install_idle_ping,
        install_plain_savepoints,
        install_sqlite_pragmas,
    )

    with app.app_context():
        install_sqlite_pragmas(db.engine)
        install_plain_savepoints(db.engine)
        install_idle_ping(db.engine, app.config["DB_PING_IDLE_SECONDS"])

    from portal.templating import init_templating

    init_templating(app)


def import_models() -> None:
    """Import every model module so the metadata (and Alembic) sees all tables."""
    import portal.cases.models
    import portal.hotline.models
    import portal.incidents.models
    import portal.models
    import portal.notifications.models
    import portal.parcels.models
    import portal.queues.models
    import portal.staff.models  # noqa: F401


def register_blueprints(app: Flask) -> None:
    """One blueprint per feature."""
    from portal.api import bp as api_bp
    from portal.ops import bp as ops_bp
    from portal.public import bp as public_bp
    from portal.staff import bp as staff_bp

    __import__("portal.incidents", fromlist=["init_app"]).init_app(app)  # before api_bp
    __import__("portal.parcels", fromlist=["init_app"]).init_app(app)  # before api_bp
    app.register_blueprint(public_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(__import__("portal.notifications.routes", fromlist=["bp"]).bp)
    __import__("portal.cases", fromlist=["init_app"]).init_app(app)
    __import__("portal.hotline", fromlist=["init_app"]).init_app(app)
    __import__("portal.queues", fromlist=["init_app"]).init_app(app)


def register_limits(app: Flask) -> None:
    """Rate limits (after the blueprints, so marked views are found)."""
    from portal.limits import init_limits

    init_limits(app)


def register_errors(app: Flask) -> None:
    """Error pages and JSON errors."""
    from portal.errors import init_errors

    init_errors(app)


def register_cli(app: Flask) -> None:
    """``flask staff ...``, ``flask tokens ...``, ``flask demo ...`` and friends."""
    from portal.cli import init_cli

    init_cli(app)


def register_background(app: Flask) -> None:
    """Celery app bound to this Flask app, and outbox dispatch after commit."""
    from portal.notifications.dispatch import init_dispatch
    from portal.tasks import init_celery

    init_celery(app)
    init_dispatch(app)


def announce_mode(app: Flask) -> None:
    """Say in the log where data, mail, SMS and jobs go."""
    log = logging.getLogger("portal")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    database = "SQLite (embedded)" if uri.startswith("sqlite") else uri.split("://")[0]
    log.info(
        "portal starting: mode=%s database=%s mail=%s sms=%s jobs=%s",
        app.config["PORTAL_ENV"], database, app.config["MAIL_BACKEND"],
        app.config["SMS_BACKEND"],
        "embedded (filesystem broker)" if app.config["CELERY_BROKER_URL"].startswith(
            "filesystem") else "Celery broker",
    )
