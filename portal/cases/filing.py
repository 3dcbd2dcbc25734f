"""Writing a new case in a few statements.

Filing runs on every claim, and the ORM's unit of work (sorting, dependency tracking,
per-object bookkeeping) costs several times the INSERT statements themselves. So a new
case, its first message, its "created" history entry and the policy's suggestion are
written with one Core ``INSERT`` each (in one round trip on PostgreSQL when the case's id
was drawn beforehand, ``portal.cases.lookups.first_look``; the last three otherwise);
the case and its message are then put in the
caller's session as ordinary persistent objects with every column loaded
(``portal.db.insert_persistent``), and the case's conversation is filled in with its
message, so code that reads the case afterwards (notifications, routing) loads nothing
again.

Nothing is committed here: the caller's transaction decides, as everywhere.
"""

from __future__ import annotations

from blinker import Namespace
from sqlalchemy.orm.attributes import set_committed_value

from portal.cases.models import Case, CaseDecision, CaseEvent, CaseMessage
from portal.db import as_persistent, insert_persistent, insert_together
from portal.extensions import db

# Sent with the new case once its rows are written (in the caller's transaction); the
# queues route it when that transaction commits. Core INSERTs bypass the session's
# ``before_flush``, which is how other features saw new cases before.
case_filed = Namespace().signal("case-filed")


def write_case(case_values: dict, message_values: dict, event_values: dict,
               decision_values: dict | None, evidence: list) -> Case:
    """Insert a case with its first message, history entry and (for a claim) suggestion;
    attach the kept and new ``evidence`` rows to it. Returns the persistent case."""
    case_id = case_values.get("id")
    # With the case's id known (drawn with the first look), the case goes in the same
    # round trip as the rest (PostgreSQL); otherwise the database chooses it first.
    case = None if case_id is not None else insert_persistent(db.session, Case, case_values)
    case_id = case_id if case is None else case.id
    written = insert_together(db.session, [
        (Case, [case_values] if case is None else []),
        (CaseMessage, [{**message_values, "case_id": case_id}]),
        (CaseEvent, [{**event_values, "case_id": case_id}]),
        (CaseDecision, [{**decision_values, "case_id": case_id}] if decision_values else []),
    ])
    if case is None:
        case = as_persistent(db.session, Case, written[0][0])
    (message_row,) = written[1]
    message = as_persistent(db.session, CaseMessage, message_row)
    set_committed_value(message, "case", case)
    # The conversation is complete: routing reads it. The history and the decisions are
    # only written (nothing reads them in this request); they load when read.
    set_committed_value(case, "messages", [message])
    for row in evidence:
        row.draft_token = None
        row.case_id, row.message_id = case.id, message.id
        db.session.add(row)
    if evidence:
        db.session.flush()  # the files' ids name their background processing tasks
    return case
