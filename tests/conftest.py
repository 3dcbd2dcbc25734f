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
pytest_plugins = ("smtp_support",)  # the real SMTP server fixture, ``smtp_server``
REQUIRE_SERVICES = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-" + "x" * 32,
    "WTF_CSRF_ENABLED": False,
    # Cheap argon2 parameters in tests only; production uses argon2's defaults.
    "PASSWORD_HASH_FAST": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_DEFAULT": "100000 per hour",
    "MAIL_BACKEND": "folder",
    "SMS_BACKEND": "folder",
    "OUTBOX_DISPATCH": "none",
    # Tests that need Redis read REDIS_URL from the environment themselves; the app
    # under test never picks it up implicitly.
    "REDIS_URL": "",
    "CELERY_BROKER_URL": "memory://",
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
    except Exception as error:  # any connection problem means "unreachable"
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
    """Delete every row of every table, children first.

    ``DELETE`` rather than ``TRUNCATE``: on PostgreSQL truncating 40-odd tables costs
    over a second (new files for every table), deleting a test's few rows ~30 ms.
    """
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
    # rows were deleted behind the sessions' back: settings kept per process go too
    __import__("portal.config_cache", fromlist=["clear"]).clear(app)


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
    """A test client that reads English unless a request says otherwise.

    Most assertions are easier to read against English text; the language tests send
    their own ``Accept-Language`` or ``?lang=``, and ``zh_client`` reads the default.
    """
    test_client = app.test_client()
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return test_client


@pytest.fixture
def zh_client(app):
    """A test client that sends no ``Accept-Language`` (the portal's default language)."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner."""
    return app.test_cli_runner()


# --- Browser tests (Playwright driving Debian's Chromium) -------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """Point pytest-playwright at Debian's Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        service_unavailable(f"Chromium not found at {CHROMIUM}: browser tests skipped")
    return {
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"],
    }


@pytest.fixture(scope="session")
def _live_server(_session_app):
    """Serve the session's app from a thread on a free loopback port."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, _session_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def live_server(app, _live_server):
    """Base URL of the app served over HTTP, with the usual clean-up after the test."""
    return _live_server


@pytest.fixture(scope="session")
def screenshot_dir():
    """Folder for screenshots a person can look at; printed once."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def axe_violations(browser, url: str, min_impact: tuple = ("serious", "critical")) -> list:
    """Open ``url`` in a CSP-bypassing context, run axe-core, return serious violations."""
    if not AXE_SCRIPT.exists():
        service_unavailable("axe-core is not installed (npm install): accessibility check skipped")
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(url)
        page.add_script_tag(path=str(AXE_SCRIPT))
        violations = page.evaluate("axe.run().then(r => r.violations)")
    finally:
        context.close()
    return [v for v in violations if v.get("impact") in min_impact]


# --- Staff helpers shared by every feature's tests --------------------------------------

STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff_factory(app):
    """Create (and commit) a staff member of a role; returns its id."""

    def create(role: str = "admin", email: str | None = None) -> int:
        from portal.staff import services

        with app.app_context():
            user = services.create_staff(email or f"{role}@example.com", role, STAFF_PASSWORD)
            db.session.commit()
            return user.id

    return create


@pytest.fixture
def login_as(app, staff_factory):
    """Sign a test client in through the real form as a new member of ``role``."""

    def sign_in(client, role: str = "admin", email: str | None = None):
        email = email or f"{role}@example.com"
        staff_factory(role, email)
        response = client.post("/staff/login", data={"email": email, "password": STAFF_PASSWORD})
        assert response.status_code == 302, "sign-in failed"
        return client

    return sign_in
