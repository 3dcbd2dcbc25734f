"""The migrations build exactly the schema the models describe, up and down, on both databases."""

from __future__ import annotations

import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import (
    ROOT,
    TEST_CONFIG,
    _create_postgres_database,
    _drop_postgres_database,
    _postgres_admin_url,
    run_migrations,
    service_unavailable,
)
from flask_migrate import downgrade
from sqlalchemy import inspect

from portal import create_app
from portal.extensions import db


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database_url(request, tmp_path):
    """A brand-new, empty database made for this test only (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url = _postgres_admin_url()
    if not admin_url:
        service_unavailable("TEST_DATABASE_URL is not set: PostgreSQL migration test skipped")
    try:
        name, url = _create_postgres_database(admin_url)
    except Exception as error:  # any connection problem means "unreachable"
        service_unavailable(f"PostgreSQL unreachable at TEST_DATABASE_URL: {error}")
    yield url
    _drop_postgres_database(admin_url, name)


@pytest.fixture
def fresh_app(fresh_database_url, tmp_path):
    app = create_app({
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": fresh_database_url,
        "OUTBOX_FOLDER": str(tmp_path / "outbox"),
        "CELERY_DATA_FOLDER": str(tmp_path / "celery"),
    })
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def schema_diff(app) -> list:
    """Differences between the migrated database and the models (empty when they agree)."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def table_names(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def model_tables() -> set[str]:
    return set(db.metadata.tables)


def test_upgrade_matches_models_then_downgrade_and_upgrade_again(fresh_app):
    assert table_names(fresh_app) == set()
    run_migrations(fresh_app)
    assert model_tables() <= table_names(fresh_app)
    assert schema_diff(fresh_app) == []

    with fresh_app.app_context():
        downgrade(directory=str(ROOT / "migrations"), revision="base")
    assert table_names(fresh_app) - {"alembic_version"} == set()

    run_migrations(fresh_app)
    assert model_tables() <= table_names(fresh_app)
    assert schema_diff(fresh_app) == []


def test_models_are_complete_for_the_foundation_tables():
    # The shared tables every feature relies on are part of the models (and so of the
    # comparison above); a model module missing from import_models() would drop them.
    assert {"public_reference", "verification_lock", "job_run", "outbox_message",
            "subscription", "staff_user"} <= model_tables()


def test_running_migrations_keeps_the_portal_logger_enabled(fresh_app):
    logger = logging.getLogger("portal")
    logger.disabled = False
    run_migrations(fresh_app)
    assert not logger.disabled
