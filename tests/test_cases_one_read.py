"""Filing a claim without files reads once: the first look also tells what the form's
submission token already stands for (a case it created, a case it was added to, files
kept under it), and a replay found that way is answered as before."""

from __future__ import annotations

from sqlalchemy import event

from portal.extensions import db
from tests.test_cases_support import count_cases, file_claim, post_claim, tracking


def _reads_while(app, action) -> list[str]:
    reads = []

    def note(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            reads.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return reads


def test_a_claim_without_files_is_filed_after_a_single_read(client, app):
    reads = _reads_while(app, lambda: file_claim(client, tracking_number=tracking()))
    before_writes = [s for s in reads if "submission_token" in s]
    assert len(before_writes) == 1  # the first look, with the token's state in it
    assert "customer_case.tracking_number" in before_writes[0]


def test_a_replayed_addition_is_answered_as_added_and_adds_nothing(client, app):
    from sqlalchemy import func, select

    from portal.cases.models import CaseMessage

    number = tracking()
    file_claim(client, tracking_number=number)
    data = {"tracking_number": number, "submission_token": "added-twice",
            "description": "Still not here, day six."}
    first, again = post_claim(client, **data), post_claim(client, **data)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    assert "/claims/new/added" in again.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CaseMessage).where(
            CaseMessage.submission_token == "added-twice")) == 1
    assert count_cases(app) == 1
