"""Filing a claim on PostgreSQL reserves the case's reference and id with the first look,
so the case is written in one round trip with its other rows; a reference already taken
falls back to drawing another, and the id is the one reserved. On SQLite nothing is
reserved: the reference is drawn as before."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from tests.test_cases_support import file_claim, get_case, tracking


def test_the_first_look_reserves_a_free_reference_and_the_next_case_id(app_ctx):
    from portal.cases.lookups import first_look
    from portal.models import PublicReference

    look = first_look(tracking(), "delay", "+8613800138000", None, reserve="case")
    if db.engine.dialect.name != "postgresql":
        assert look.reference is None and look.case_id is None
        return
    assert look.reference.startswith("CS-") and look.case_id > 0
    assert db.session.scalar(select(PublicReference.kind).where(
        PublicReference.code == look.reference)) == "case"
    again = first_look(tracking(), "delay", "+8613800138000", None, reserve="case")
    assert again.case_id > look.case_id and again.reference != look.reference


def test_a_taken_reference_is_not_reserved_and_the_claim_draws_another(client, app,
                                                                       monkeypatch):
    from portal import references

    first = file_claim(client, tracking_number=tracking())
    codes = iter([first])  # the first look tries the reference already taken
    real = references._random_code
    monkeypatch.setattr(references, "_random_code",
                        lambda kind: next(codes, None) or real(kind))
    second = file_claim(client, tracking_number=tracking())
    assert second != first
    assert get_case(app, second).reference == second


def test_the_case_is_written_in_the_same_round_trip_as_its_rows(client, app, monkeypatch):
    from tests.test_db_savepoints import _sent

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("pipelines and reservations are the PostgreSQL path")
    sent = _sent(monkeypatch)
    reference = file_claim(client, tracking_number=tracking())
    case_inserts = [piped for statement, piped in sent
                    if statement.startswith("INSERT INTO customer_case ")]
    assert case_inserts == [True]
    assert not [s for s, _ in sent if s.startswith("INSERT INTO public_reference")]
    case = get_case(app, reference)
    assert case.messages and case.messages[0].case_id == case.id
