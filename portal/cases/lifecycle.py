"""The life of a case: conversation, states, the compensation decision, the rating.

States: new -> open -> waiting_customer <-> open -> resolved -> closed. A customer who
writes within ``CASES_REOPEN_DAYS`` after resolution reopens the case; a resolved case is
closed after that window (``close_resolved``), and the customer is asked for a rating.

Decision steps, each logged in ``CaseDecision`` with who and why: suggested (policy) ->
offered (staff) -> accepted / declined (customer, with a reason) -> paid (staff: date,
method, reference). An offer can be withdrawn or replaced by a new one before an answer.

Every function adds and flushes; the caller commits. Staff actions are also written to
the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal.cases import notices
from portal.cases.models import (
    OPEN_STATES,
    Case,
    CaseDecision,
    CaseEvidence,
    CaseMessage,
    CaseRating,
    CaseState,
    DecisionStep,
    MessageKind,
)
from portal.cases.services import log_event
from portal.db import utcnow
from portal.extensions import db
from portal.staff import audit


class CaseError(ValueError):
    """An action the case's state does not allow; ``code`` says why."""

    def __init__(self, code: str, message: str = ""):
        """``code``: closed, no_offer, reason_required, not_accepted, bad_state, bad_amount,
        not_closed, bad_score."""
        super().__init__(message or code)
        self.code = code

    def explanation(self) -> str:
        """The refusal in the reader's language, for staff pages."""
        from flask_babel import gettext as _

        messages = {
            "closed": _("The case is closed."),
            "no_offer": _("There is no offer on this case."),
            "reason_required": _("Please give a reason."),
            "not_accepted": _("The customer has not accepted the offer yet."),
            "bad_state": _("That change is not allowed from the current state."),
            "bad_amount": _("The amount is not valid."),
            "not_closed": _("The case is not closed yet."),
            "bad_score": _("The rating must be between 1 and 5."),
        }
        return messages.get(self.code, _("The action was refused."))


ALLOWED = {
    CaseState.NEW: {CaseState.OPEN, CaseState.WAITING_CUSTOMER, CaseState.RESOLVED,
                    CaseState.CLOSED},
    CaseState.OPEN: {CaseState.WAITING_CUSTOMER, CaseState.RESOLVED, CaseState.CLOSED},
    CaseState.WAITING_CUSTOMER: {CaseState.OPEN, CaseState.RESOLVED, CaseState.CLOSED},
    CaseState.RESOLVED: {CaseState.OPEN, CaseState.CLOSED},
    CaseState.CLOSED: set(),
}


def _reopen_window() -> timedelta:
    return timedelta(days=int(current_app.config.get("CASES_REOPEN_DAYS", 14)))


def change_state(case: Case, to_state: str, *, actor=None, reason: str = "",
                 now: datetime | None = None, notify: bool = True) -> None:
    """Move the case to ``to_state`` if the lifecycle allows it; log and tell the customer."""
    now = now or utcnow()
    to_state = CaseState(to_state)
    if to_state == case.state:
        return
    if to_state not in ALLOWED[CaseState(case.state)]:
        raise CaseError("bad_state", f"{case.state} -> {to_state}")
    previous = case.state
    case.state = to_state
    if to_state == CaseState.RESOLVED:
        case.resolved_at = now
    elif to_state == CaseState.CLOSED:
        case.closed_at = now
    event = log_event(case, "state_changed", from_state=previous, to_state=to_state,
                      actor=actor, actor_label="" if actor else "system", reason=reason)
    db.session.flush()
    if actor is not None:
        audit.record("case.state_changed", "case", case.reference, actor=actor,
                     from_state=previous, to_state=str(to_state), reason=reason)
    if notify and to_state in (CaseState.RESOLVED, CaseState.WAITING_CUSTOMER):
        notices.updated(case, "resolved" if to_state == CaseState.RESOLVED else "waiting",
                        event.id)
    if to_state == CaseState.CLOSED and notify:
        notices.rating_request(case)


def staff_reply(case: Case, body: str, actor, *, wait_for_customer: bool = False,
                now: datetime | None = None) -> CaseMessage:
    """A public reply: shown on the status page and sent to the customer."""
    if case.state == CaseState.CLOSED:
        raise CaseError("closed")
    now = now or utcnow()
    message = CaseMessage(kind=MessageKind.STAFF_REPLY, public=True, author_id=actor.id,
                          author_label=actor.name or actor.email, body=body.strip(),
                          created_at=now)
    case.messages.append(message)
    if case.answered_at is None:
        case.answered_at = now
    if case.state == CaseState.NEW:
        change_state(case, CaseState.OPEN, actor=actor, reason="first reply", notify=False)
    if wait_for_customer and case.state != CaseState.WAITING_CUSTOMER:
        change_state(case, CaseState.WAITING_CUSTOMER, actor=actor, reason="reply",
                     notify=False)
    db.session.flush()
    audit.record("case.replied", "case", case.reference, actor=actor, message_id=message.id)
    notices.updated(case, "reply", message.id)
    return message


def internal_note(case: Case, body: str, actor) -> CaseMessage:
    """A note for staff only; never shown to the customer."""
    message = CaseMessage(kind=MessageKind.INTERNAL_NOTE, public=False, author_id=actor.id,
                          author_label=actor.name or actor.email, body=body.strip())
    case.messages.append(message)
    db.session.flush()
    audit.record("case.noted", "case", case.reference, actor=actor, message_id=message.id)
    return message


def customer_message(case: Case, body: str, evidence: list[CaseEvidence] | None = None,
                     now: datetime | None = None) -> CaseMessage:
    """The customer adds information or files; reopens a recently resolved case."""
    now = now or utcnow()
    if case.state == CaseState.CLOSED:
        raise CaseError("closed")
    if case.state == CaseState.RESOLVED:
        if case.resolved_at and now - case.resolved_at > _reopen_window():
            raise CaseError("closed")
        change_state(case, CaseState.OPEN, reason="customer wrote after resolution",
                     now=now, notify=False)
        case.reopened_count = (case.reopened_count or 0) + 1
        case.resolved_at = None
        log_event(case, "reopened")
    elif case.state == CaseState.WAITING_CUSTOMER:
        change_state(case, CaseState.OPEN, reason="customer answered", now=now, notify=False)
    message = CaseMessage(kind=MessageKind.CUSTOMER, public=True, author_label="customer",
                          body=(body or "").strip(), created_at=now)
    case.messages.append(message)
    db.session.flush()
    for row in evidence or []:
        row.message_id = message.id
        case.evidence.append(row)
    case.last_customer_at = now
    log_event(case, "customer_message", files=len(evidence or []))
    db.session.flush()
    return message


def _decide(case: Case, step: str, actor=None, **values) -> CaseDecision:
    decision = CaseDecision(step=step, actor_id=getattr(actor, "id", None),
                            actor_label=getattr(actor, "email", "") or "customer",
                            policy_version_id=case.policy_version_id, **values)
    case.decisions.append(decision)
    case.decision = step
    db.session.flush()
    if actor is not None:
        audit.record(f"case.decision_{step}", "case", case.reference, actor=actor,
                     amount_fen=values.get("amount_fen"), reason=values.get("reason", ""))
    return decision


def offer(case: Case, amount_fen: int, actor, reason: str) -> CaseDecision:
    """Offer an amount to the customer (replaces an unanswered offer)."""
    if case.state == CaseState.CLOSED:
        raise CaseError("closed")
    if case.decision in (DecisionStep.ACCEPTED, DecisionStep.PAID):
        raise CaseError("bad_state", "an accepted offer cannot be replaced")
    if amount_fen is None or amount_fen < 0:
        raise CaseError("bad_amount")
    if not (reason or "").strip():
        raise CaseError("reason_required")
    case.offered_fen = amount_fen
    decision = _decide(case, DecisionStep.OFFERED, actor, amount_fen=amount_fen,
                       reason=reason.strip())
    if case.state != CaseState.WAITING_CUSTOMER:
        change_state(case, CaseState.WAITING_CUSTOMER, actor=actor, reason="offer made",
                     notify=False)
    notices.updated(case, "offer", decision.id, amount_fen=amount_fen)
    return decision


def withdraw_offer(case: Case, actor, reason: str) -> CaseDecision:
    """Withdraw an unanswered offer."""
    if case.decision != DecisionStep.OFFERED:
        raise CaseError("no_offer")
    if not (reason or "").strip():
        raise CaseError("reason_required")
    return _decide(case, DecisionStep.WITHDRAWN, actor, amount_fen=case.offered_fen,
                   reason=reason.strip())


def answer_offer(case: Case, accept: bool, reason: str = "") -> CaseDecision:
    """The customer accepts or declines the current offer (a reason is needed to decline)."""
    if case.decision != DecisionStep.OFFERED or case.offered_fen is None:
        raise CaseError("no_offer")
    if case.state == CaseState.CLOSED:
        raise CaseError("closed")
    reason = (reason or "").strip()[:2000]
    if not accept and not reason:
        raise CaseError("reason_required")
    step = DecisionStep.ACCEPTED if accept else DecisionStep.DECLINED
    decision = _decide(case, step, None, amount_fen=case.offered_fen, reason=reason)
    if case.state == CaseState.WAITING_CUSTOMER:
        change_state(case, CaseState.OPEN, reason=f"offer {step}", notify=False)
    log_event(case, f"offer_{step}", amount_fen=case.offered_fen)
    db.session.flush()
    return decision


def record_payment(case: Case, actor, *, paid_on: datetime, method: str, reference: str,
                   amount_fen: int | None = None, reason: str = "") -> CaseDecision:
    """Record that the accepted amount was paid; the case is resolved."""
    if case.decision != DecisionStep.ACCEPTED:
        raise CaseError("not_accepted")
    amount = case.offered_fen if amount_fen is None else amount_fen
    if amount is None or amount < 0:
        raise CaseError("bad_amount")
    decision = _decide(case, DecisionStep.PAID, actor, amount_fen=amount, paid_on=paid_on,
                       method=method.strip()[:40], payment_reference=reference.strip()[:80],
                       reason=reason.strip() or "paid")
    case.paid_at = paid_on
    if case.state != CaseState.RESOLVED:
        change_state(case, CaseState.RESOLVED, actor=actor, reason="compensation paid",
                     notify=False)
    notices.updated(case, "paid", decision.id, amount_fen=amount)
    return decision


def close_resolved(now: datetime | None = None, limit: int = 500) -> list[str]:
    """Close cases resolved longer than the reopen window ago; ask for a rating."""
    now = now or utcnow()
    cases = list(db.session.scalars(
        select(Case).where(Case.state == CaseState.RESOLVED,
                           Case.resolved_at <= now - _reopen_window())
        .order_by(Case.id).limit(limit)))
    for case in cases:
        change_state(case, CaseState.CLOSED, reason="reopen window passed", now=now)
    return [case.reference for case in cases]


def rate(case: Case, score: int, comment: str = "") -> CaseRating:
    """Record (or change) the customer's rating of a closed case."""
    if case.state != CaseState.CLOSED:
        raise CaseError("not_closed")
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise CaseError("bad_score")
    comment = (comment or "").strip()[:2000]
    if case.rating is None:
        case.rating = CaseRating(score=score, comment=comment)
    else:
        case.rating.score = score
        if comment:
            case.rating.comment = comment
    log_event(case, "rated", score=score)
    db.session.flush()
    return case.rating


def is_open(case: Case) -> bool:
    """True while the customer can expect an answer."""
    return case.state in OPEN_STATES
