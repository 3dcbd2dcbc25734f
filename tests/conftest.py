"""Fixtures: a fresh database per run (SQLite, and PostgreSQL when configured), built by
running the migrations; an app and client per test with every table emptied afterwards.

Set ``TEST_DATABASE_URL`` (PostgreSQL) to run every database test on PostgreSQL too.
``PORTAL_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns a missing or unreachable
PostgreSQL or Redis into a failure instead of a skip.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import text

from portal import create_app
from portal.extensions import db

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-" + "x" * 32,
    "WTF_CSRF_ENABLED": False,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_DEFAULT": "100000 per hour",
    "MAIL_BACKEND": "folder",
    "SMS_BACKEND": "folder",
    "OUTBOX_DISPATCH": "none",
    "CELERY_ALWAYS_EAGER": True,
    "PUBLIC_BASE_URL": "http://portal.test",
    "SERVER_NAME": None,
}


def service_unavailable(reason: str):
    """Skip (or fail under ``PORTAL_REQUIRE_SERVICES=1``) when a real peer is missing."""
    if REQUIRE_SERVICES:
        pytest.fail(reason + " (PORTAL_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def _postgres_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _create_postgres_database(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = "portal_test_" + secrets.token_hex(4)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def run_migrations(app, revision: str = "head") -> None:
    """Upgrade the app's database with Alembic (never ``create_all``)."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=revision)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A fresh, empty database for this run, of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal-test.db'}"
        return
    admin_url = _postgres_admin_url()
    if not admin_url:
        service_unavailable("TEST_DATABASE_URL is not set: PostgreSQL run skipped")
    try:
        name, url = _create_postgres_database(admin_url)
    except Exception as error:  # noqa: BLE001 - any connection problem means "unreachable"
        service_unavailable(f"PostgreSQL unreachable at TEST_DATABASE_URL: {error}")
    yield url
    _drop_postgres_database(admin_url, name)


@pytest.fixture(scope="session")
def _session_app(database_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    app = create_app({
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "OUTBOX_FOLDER": str(instance / "outbox"),
        "CELERY_DATA_FOLDER": str(instance / "celery"),
    })
    run_migrations(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def empty_all_tables(app) -> None:
    """Delete every row of every table (much cheaper than recreating the schema)."""
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                quoted = ", ".join(f'"{t}"' for t in tables)
                conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def app(_session_app):
    """The app, with a clean database and fresh rate-limit counters after each test."""
    from portal.limits import get_limiter

    saved = dict(_session_app.config)
    yield _session_app
    _session_app.config.clear()
    _session_app.config.update(saved)
    get_limiter(_session_app).reset()
    empty_all_tables(_session_app)


@pytest.fixture
def make_app(app):
    """Build another app on the same (clean) database with extra settings.

    For tests that need their own routes or settings read at start-up (rate limits,
    proxies); also stands for "a second process" in cache and limit tests.
    """
    built = []

    def build(**overrides):
        config = {key: app.config[key] for key in TEST_CONFIG if key in app.config}
        config.update({
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "OUTBOX_FOLDER": app.config["OUTBOX_FOLDER"],
            "CELERY_DATA_FOLDER": app.config["CELERY_DATA_FOLDER"],
        })
        config.update(overrides)
        new_app = create_app(config)
        built.append(new_app)
        return new_app

    yield build
    for new_app in built:
        with new_app.app_context():
            db.engine.dispose()


@pytest.fixture
def app_ctx(app):
    """An application context for calling services directly."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()
