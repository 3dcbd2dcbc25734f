"""Filing cases: a form submission becomes a new case, or is added to the customer's open
case, exactly once.

- The submission token (a hidden field of the form) is stored on the case it created, or
  on the message it added: a resubmitted form (double click, back and resubmit) finds it
  and changes nothing. Two identical submissions racing each other meet the unique
  constraint; the loser's caller rolls back and finds the winner's case.
- A claim for the same tracking number and type from the **same phone** while a case is
  open is appended to that case (and the customer is told so through the contacts on
  file, never on screen); from another phone it becomes a new case (staff can merge).
- The case gets its reference, its legal clock, the policy version in force and the
  suggested amount, and the confirmation is written to the outbox, all in the caller's
  transaction: nothing exists, and nothing is sent, until the caller commits.

Every function adds and flushes; the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, literal_column, select, union_all

from portal import db_direct
from portal.cases import filing, notices
from portal.cases.clock import clock_for
from portal.cases.lookups import FirstLook, first_look, parcel_for
from portal.cases.models import (
    CLAIM_TYPES,
    Case,
    CaseDecision,
    CaseEvent,
    CaseEvidence,
    CaseKind,
    CaseMessage,
    CaseSource,
    CaseState,
    DecisionStep,
    MessageKind,
)
from portal.cases.policy import ClaimInput, Estimate
from portal.cases.policy_admin import estimate, policy_in_force
from portal.db import utcnow
from portal.extensions import db
from portal.references import new_reference
from portal.verification import phone_tail_digest


@dataclass
class Submission:
    """A validated form submission (amounts in fen)."""

    kind: str
    type: str
    customer_name: str
    phone_e164: str | None
    description: str
    submission_token: str
    email: str | None = None
    language: str = "zh_Hans"
    preferred_channel: str = "sms"
    tracking_number: str | None = None
    service_line: str | None = None
    claimed_fen: int | None = None
    declared_value_fen: int | None = None
    insured: bool = False
    freight_fen: int | None = None
    damaged_percent: int | None = None
    consent: bool = False
    source: str = CaseSource.WEB
    evidence: list[CaseEvidence] = field(default_factory=list)
    # False when the caller has checked that no files are kept under the token
    # (``token_state``), which saves looking for them again.
    has_drafts: bool = True

    def claim_input(self) -> ClaimInput:
        """The values the policy calculation reads."""
        return ClaimInput(claim_type=self.type, insured=self.insured,
                          service_line=self.service_line, claimed_fen=self.claimed_fen,
                          declared_value_fen=self.declared_value_fen,
                          freight_fen=self.freight_fen, damaged_percent=self.damaged_percent)


@dataclass(frozen=True)
class SubmitResult:
    """What happened to a submission."""

    case: Case
    created: bool  # a new case
    appended: bool  # added to the customer's open case
    replayed: bool = False  # the same submission arrived again: nothing changed


def new_submission_token() -> str:
    """A fresh token for a form (one per form shown)."""
    return secrets.token_urlsafe(24)


# Statements read on every claim, built once: a statement built per call costs more in
# Python (construction, cache key) than the database takes to answer it.
_TOKEN_STATE = union_all(
    select(literal_column("'case'").label("what"), Case.__table__.c.id.label("id"))
    .where(Case.__table__.c.submission_token == bindparam("token")),
    select(literal_column("'message'"), CaseMessage.__table__.c.case_id)
    .where(CaseMessage.__table__.c.submission_token == bindparam("token")),
    select(literal_column("'draft'"), CaseEvidence.__table__.c.id)
    .where(CaseEvidence.__table__.c.draft_token == bindparam("token"),
           CaseEvidence.__table__.c.case_id.is_(None)),
)
def token_state(token: str | None) -> tuple[SubmitResult | None, bool]:
    """What a submission token already stands for, in one query: the outcome of an earlier
    submission with it (or None), and whether files are kept under it (a form that came
    back with errors)."""
    if not token:
        return None, False
    found = dict(db_direct.fetch_all(db.session.connection(), _TOKEN_STATE, {"token": token}))
    earlier = _replayed(found.get("case"), found.get("message"))
    return earlier, earlier is None and "draft" in found


def _replayed(case_id: int | None, message_case_id: int | None) -> SubmitResult | None:
    """The outcome of an earlier submission with a token: it created ``case_id``, or was
    added to ``message_case_id``; None when it made neither."""
    if case_id is not None:
        return SubmitResult(db.session.get(Case, case_id), created=True, appended=False,
                            replayed=True)
    if message_case_id is not None:
        return SubmitResult(db.session.get(Case, message_case_id), created=False,
                            appended=True, replayed=True)
    return None


def look_before_filing(sub: Submission) -> tuple[SubmitResult | None, FirstLook]:
    """Everything filing ``sub`` reads, in one statement (``lookups.first_look`` with the
    token): the outcome of an earlier submission with its token (then nothing is to be
    filed) and the first look that ``submit(look=...)`` files with."""
    look = first_look(sub.tracking_number, sub.type, sub.phone_e164, sub.email,
                      reserve="case", token=sub.submission_token)
    return _replayed(look.token_case, look.token_message_case), look


def find_submission(token: str | None) -> SubmitResult | None:
    """The outcome of an earlier submission with this token, or None."""
    return token_state(token)[0]


def newest_cases(limit: int = 50) -> list[Case]:
    """The newest cases, newest first."""
    return list(db.session.scalars(select(Case).order_by(Case.id.desc()).limit(limit)))


def by_reference(reference: str) -> Case | None:
    """The case with this (normalised) reference."""
    return db.session.scalar(select(Case).where(Case.reference == reference))


def draft_evidence(token: str | None) -> list[CaseEvidence]:
    """Files kept from a form that came back with errors."""
    if not token:
        return []
    return list(db.session.scalars(select(CaseEvidence).where(
        CaseEvidence.draft_token == token, CaseEvidence.case_id.is_(None))
        .order_by(CaseEvidence.id)))


def keep_draft_evidence(token: str, rows: list[CaseEvidence]) -> list[CaseEvidence]:
    """Keep accepted files of a form with errors under its token (no case yet)."""
    for row in rows:
        row.draft_token = token
        db.session.add(row)
    db.session.flush()
    return rows


def drop_draft_evidence(token: str, evidence_id: int) -> bool:
    """Remove one kept file of a draft (the customer's "remove" button)."""
    row = db.session.get(CaseEvidence, evidence_id)
    if row is None or row.case_id is not None or row.draft_token != token:
        return False
    db.session.delete(row)
    db.session.flush()
    return True


def preview(sub: Submission) -> tuple[Estimate, object | None]:
    """The policy estimate for a submission before it is filed (nothing is written)."""
    from portal.cases.policy_admin import version_in_force

    parcel = parcel_for(sub.tracking_number)
    incident = parcel.incident if parcel is not None else None
    if parcel is not None and not sub.service_line:
        sub.service_line = parcel.service_line
    return estimate(sub.claim_input(), version_in_force(), incident), incident


def event_row(action: str, *, from_state: str | None = None, to_state: str | None = None,
              actor=None, actor_label: str = "", **detail) -> dict:
    """The values of one history entry (who: the label given, else the staff member's
    email, else "customer")."""
    return {"action": action, "from_state": from_state, "to_state": to_state,
            "actor_id": getattr(actor, "id", None),
            "actor_label": actor_label or getattr(actor, "email", "") or "customer",
            "detail": detail}


def log_event(case: Case, action: str, *, from_state: str | None = None,
              to_state: str | None = None, actor=None, actor_label: str = "",
              **detail) -> CaseEvent:
    """Add one history entry to the case."""
    event = CaseEvent(**event_row(action, from_state=from_state, to_state=to_state,
                                  actor=actor, actor_label=actor_label, **detail))
    if case.id is None or "events" in case.__dict__:
        case.events.append(event)  # new case, or history already loaded: keep it in step
    else:
        event.case_id = case.id  # no need to load the whole history to add one entry
        db.session.add(event)
    return event


def _attach(case: Case, message: CaseMessage, sub: Submission) -> None:
    for row in [*(draft_evidence(sub.submission_token) if sub.has_drafts else []),
                *sub.evidence]:
        row.draft_token = None
        row.message = message
        row.case = case


def _append(case: Case, sub: Submission, now: datetime) -> SubmitResult:
    message = CaseMessage(kind=MessageKind.CUSTOMER, public=True, author_label="customer",
                          body=sub.description, submission_token=sub.submission_token,
                          created_at=now)
    message.case = case  # the back reference does not load the whole conversation
    db.session.add(message)
    _attach(case, message, sub)
    previous = case.state
    if case.state == CaseState.WAITING_CUSTOMER:
        case.state = CaseState.OPEN
    case.last_customer_at = now
    log_event(case, "submission_appended", from_state=previous, to_state=case.state,
              files=len(sub.evidence), email_given=bool(sub.email))
    db.session.flush()
    notices.appended(case, message.id)
    return SubmitResult(case, created=False, appended=True)


_UNSET = object()


def submit(sub: Submission, now: datetime | None = None,
           replay_checked: bool = False, look: FirstLook | None = None) -> SubmitResult:
    """File a submission: replay, append to the open case, or create a case.

    ``replay_checked``: the caller has just looked the token up (saves a query); ``look``:
    the caller's ``look_before_filing`` (saves another)."""
    now = now or utcnow()
    earlier = None if replay_checked or look else find_submission(sub.submission_token)
    if earlier is not None:
        return earlier
    look = look or first_look(sub.tracking_number, sub.type, sub.phone_e164, sub.email,
                              reserve="case")
    if look.duplicate is not None:
        return _append(look.duplicate, sub, now)
    return SubmitResult(create_case(sub, now, parcel=look.parcel, earlier_cases=look.earlier_cases,
                                    suppressed=look.suppressed, reference=look.reference,
                                    case_id=look.case_id),
                        created=True, appended=False)


def create_case(sub: Submission, now: datetime | None = None, actor=None,
                parcel=_UNSET, earlier_cases: int | None = None,
                suppressed: frozenset[tuple[str, str]] | None = None,
                reference: str | None = None, case_id: int | None = None) -> Case:
    """Create a case from a submission (web form, or staff entering a call or a 12305
    forward), with its reference, clock, policy version and suggestion.

    Runs on every claim: the rows are written with one INSERT each (``filing.py``), the
    policy version in force comes from the per-process copy, and the new case is announced
    (``case_filed``) so the queues route it when the transaction commits. ``parcel``: the
    affected-parcel record of the tracking number when the caller has looked it up;
    ``earlier_cases``: the customer's earlier cases, when the caller has counted them;
    ``suppressed``: their suppressed contacts, when the caller has looked them up;
    ``reference`` and ``case_id``: reserved by the caller (``first_look``)."""
    now = now or utcnow()
    reference = reference or new_reference("case")
    if parcel is _UNSET:
        parcel = parcel_for(sub.tracking_number)
    if parcel is not None and not sub.service_line:
        sub.service_line = parcel.service_line
    incident = parcel.incident if parcel is not None else None
    version = policy_in_force()
    values = {
        "reference": reference, "kind": sub.kind, "type": sub.type, "state": CaseState.NEW,
        "source": sub.source, "customer_name": sub.customer_name, "phone_e164": sub.phone_e164,
        "phone_tail_digest": phone_tail_digest(sub.phone_e164 or "", reference),
        "email": sub.email, "language": sub.language, "preferred_channel": sub.preferred_channel,
        "consent_at": now if sub.consent else None, "tracking_number": sub.tracking_number,
        "service_line": sub.service_line, "incident_id": parcel.incident_id if parcel else None,
        "parcel_id": parcel.id if parcel else None, "claimed_fen": sub.claimed_fen,
        "declared_value_fen": sub.declared_value_fen, "insured": sub.insured,
        "freight_fen": sub.freight_fen, "damaged_percent": sub.damaged_percent,
        "policy_version_id": version.id, "submission_token": sub.submission_token,
        "access_nonce": secrets.token_hex(8), "created_at": now, "updated_at": now,
        "last_customer_at": now, "reopened_count": 0, "legal_clock": None, "legal_due_at": None,
        "suggested_fen": None, "decision": None}
    if case_id is not None:
        values["id"] = case_id
    clock = clock_for(sub.kind, sub.source, now, current_app.config)
    if clock is not None:
        values["legal_clock"], values["legal_due_at"] = clock.name, clock.due_at
    event = {**event_row("created", to_state=CaseState.NEW, actor=actor,
                         source=sub.source, legal_clock=values["legal_clock"]),
             "created_at": now}
    suggestion = None
    if sub.kind == CaseKind.CLAIM and sub.type in CLAIM_TYPES:
        result = estimate(sub.claim_input(), version, incident)
        values["suggested_fen"], values["decision"] = result.amount_fen, DecisionStep.SUGGESTED
        suggestion = {**_suggestion_row(result, version), "created_at": now}
    message = {"kind": MessageKind.CUSTOMER, "public": True,
               "author_label": "customer" if actor is None else actor.email,
               "author_id": getattr(actor, "id", None), "body": sub.description,
               "submission_token": None, "created_at": now}
    kept = draft_evidence(sub.submission_token) if sub.has_drafts else []
    case = filing.write_case(values, message, event, suggestion, [*kept, *sub.evidence])
    case.earlier_cases_hint = earlier_cases
    notices.received(case, suppressed)
    filing.case_filed.send(case)
    return case


def _suggestion_row(result: Estimate, version, actor=None, reason: str = "") -> dict:
    """The values of a "suggested" decision step for a policy estimate."""
    return {"step": DecisionStep.SUGGESTED, "amount_fen": result.amount_fen,
            "reason": reason or "policy", "policy_version_id": getattr(version, "id", None),
            "detail": result.as_dict(), "actor_id": getattr(actor, "id", None),
            "actor_label": getattr(actor, "email", "") or "policy"}


def suggest(case: Case, *, actor=None, reason: str = "") -> CaseDecision:
    """Compute the policy's suggestion for the case under its own version; log it."""
    claim = ClaimInput(claim_type=case.type, insured=bool(case.insured),
                       service_line=case.service_line, claimed_fen=case.claimed_fen,
                       declared_value_fen=case.declared_value_fen, freight_fen=case.freight_fen,
                       damaged_percent=case.damaged_percent)
    result = estimate(claim, case.policy_version, case.incident)
    case.suggested_fen = result.amount_fen
    if case.decision in (None, DecisionStep.SUGGESTED):
        case.decision = DecisionStep.SUGGESTED
    step = CaseDecision(**_suggestion_row(result, case.policy_version, actor, reason))
    case.decisions.append(step)
    db.session.flush()
    return step
