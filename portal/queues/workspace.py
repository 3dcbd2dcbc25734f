"""The agent's actions on cases: reveal contact details, reply (canned replies with
placeholders), merge duplicates, bulk actions, compensation approval within role limits,
cases created by staff (a phone call, a 12305 forward). Each adds and flushes; the route
commits. Replies, notes, state changes and offers go through the claims feature's
services (``portal.cases.lifecycle``), so the customer sees them on the status page and
is told through the notifications core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal.cases import lifecycle, services
from portal.cases.models import OPEN_STATES, Case, CaseKind, CaseSource, CaseState, CaseType
from portal.extensions import db
from portal.queues import assignment
from portal.queues.models import CannedReply, CaseApproval, CaseMerge, CaseWork
from portal.staff import audit


class WorkspaceError(ValueError):
    """An action refused; ``code`` says why (over_limit, same_case, closed, bad_state...)."""

    def __init__(self, code: str, **detail):
        super().__init__(code)
        self.code, self.detail = code, detail


# --- Customer details ----------------------------------------------------------------

def mask_phone(phone: str | None) -> str:
    """All but the last 4 digits hidden (GB/T 41833: at least 6 digits hidden)."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    return "*" * max(6, len(digits) - 4) + digits[-4:]


def mask_name(name: str | None) -> str:
    """First character kept."""
    name = (name or "").strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_email(email: str | None) -> str:
    """First character of the local part kept."""
    if not email or "@" not in email:
        return ""
    local, _, domain = email.partition("@")
    return local[:1] + "***@" + domain


def reveal(case: Case, actor, reason: str = "") -> dict:
    """The unmasked contact details; the reveal is written to the audit log."""
    audit.record("queue.customer_revealed", "case", case.reference, actor=actor,
                 reason=(reason or "").strip()[:500])
    return {"name": case.customer_name, "phone": case.phone_e164 or "",
            "email": case.email or ""}


# --- Replies --------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{(name|reference|tracking_number|agent|legal_due_date)\}")


def fill_placeholders(text: str, case: Case, agent) -> str:
    """Fill {name}, {reference}, {tracking_number}, {agent}, {legal_due_date}."""
    from portal.templating import local_time

    values = {"name": case.customer_name or "", "reference": case.reference,
              "tracking_number": case.tracking_number or "",
              "agent": getattr(agent, "name", "") or getattr(agent, "email", ""),
              "legal_due_date": local_time(case.legal_due_at, "short")
              if case.legal_due_at else ""}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text or "")


def canned_text(reply: CannedReply, case: Case, agent) -> str:
    """A canned reply in the case's language (fallback order of the content module)."""
    from portal.content import FALLBACK_ORDER

    body = reply.body or {}
    for language in FALLBACK_ORDER.get(case.language, ("zh_Hans", "zh_Hant", "en")):
        if body.get(language):
            return fill_placeholders(body[language], case, agent)
    return ""


def reply(case: Case, body: str, actor, *, internal: bool = False, wait: bool = False):
    """A public reply (status page + notification) or an internal note."""
    if not (body or "").strip():
        raise WorkspaceError("empty")
    try:
        if internal:
            return lifecycle.internal_note(case, body, actor)
        return lifecycle.staff_reply(case, body, actor, wait_for_customer=wait)
    except lifecycle.CaseError as error:
        raise WorkspaceError(error.code) from error


def change_state(case: Case, state: str, actor, reason: str = "") -> None:
    """Change a case's state through the claims lifecycle."""
    try:
        lifecycle.change_state(case, state, actor=actor, reason=reason)
    except (lifecycle.CaseError, ValueError) as error:
        raise WorkspaceError("bad_state") from error


# --- Compensation approval --------------------------------------------------------------

def approval_limit(role: str) -> int | None:
    """The highest amount (fen) a role may approve; None means no limit; absent roles 0."""
    limits = current_app.config.get("QUEUES_APPROVAL_LIMITS") or {}
    if role not in limits:
        return 0
    value = limits[role]
    return None if value is None else int(value)


def approve(case: Case, amount_fen: int, actor, reason: str):
    """Approve and offer compensation if ``amount_fen`` is within the actor's limit."""
    if not (reason or "").strip():
        raise WorkspaceError("reason_required")
    if amount_fen is None or amount_fen < 0:
        raise WorkspaceError("bad_amount")
    limit = approval_limit(actor.role)
    if limit is not None and amount_fen > limit:
        audit.record("queue.approval_refused", "case", case.reference, actor=actor,
                     amount_fen=amount_fen, limit_fen=limit, role=actor.role)
        raise WorkspaceError("over_limit", limit_fen=limit)
    db.session.add(CaseApproval(case_id=case.id, amount_fen=amount_fen, actor_id=actor.id,
                                actor_label=actor.email, role=actor.role, limit_fen=limit,
                                reason=reason.strip()[:2000]))
    audit.record("queue.approved", "case", case.reference, actor=actor, amount_fen=amount_fen,
                 limit_fen=limit, role=actor.role, reason=reason.strip()[:500])
    try:
        return lifecycle.offer(case, amount_fen, actor, reason)
    except lifecycle.CaseError as error:
        raise WorkspaceError(error.code) from error


# --- Merge and bulk ---------------------------------------------------------------------

def merge(source: Case, target: Case, actor, reason: str = "") -> CaseMerge:
    """Merge a duplicate into another case: the duplicate's messages are copied to the
    target as internal notes (never shown to the target's customer, who may be someone
    else), the duplicate is closed and points at the target."""
    if source.id == target.id:
        raise WorkspaceError("same_case")
    if source.merged_into_id or target.merged_into_id:
        raise WorkspaceError("already_merged")
    if target.state == CaseState.CLOSED:
        raise WorkspaceError("closed")
    lines = [f"[{m.created_at:%Y-%m-%d %H:%M}] {m.author_label}: {m.body}"
             for m in source.messages if m.body]
    lifecycle.internal_note(target, f"Merged from {source.reference}:\n" + "\n".join(lines),
                            actor)
    source.merged_into_id = target.id
    if source.state != CaseState.CLOSED:
        lifecycle.change_state(source, CaseState.CLOSED, actor=actor,
                               reason=f"merged into {target.reference}", notify=False)
    row = CaseMerge(source_case_id=source.id, target_case_id=target.id, actor_id=actor.id,
                    reason=(reason or "").strip()[:2000])
    db.session.add(row)
    services.log_event(source, "merged_into", actor=actor, target=target.reference)
    services.log_event(target, "merged_from", actor=actor, source=source.reference)
    audit.record("queue.merged", "case", source.reference, actor=actor,
                 target=target.reference, reason=row.reason)
    db.session.flush()
    return row


@dataclass
class BulkResult:
    """How many cases a bulk action changed, and which it skipped (with why)."""

    done: list[str]
    skipped: list[tuple[str, str]]


def _cases(references: list[str]) -> list[Case]:
    refs = [r for r in dict.fromkeys(references) if r][:500]
    if not refs:
        return []
    return list(db.session.scalars(select(Case).where(Case.reference.in_(refs))
                                   .order_by(Case.id)))


def bulk_assign(references: list[str], agent_id: int | None, actor) -> BulkResult:
    """Assign many cases to one agent (or return them to the queue)."""
    result = BulkResult([], [])
    for case in _cases(references):
        work = db.session.get(CaseWork, case.id)
        if work is None:
            result.skipped.append((case.reference, "unrouted"))
            continue
        try:
            assignment.assign(work, agent_id, actor, reason="bulk", force=True)
            result.done.append(case.reference)
        except assignment.AssignmentError as error:
            result.skipped.append((case.reference, error.code))
    return result


def bulk_state(references: list[str], state: str, actor, reason: str = "") -> BulkResult:
    """Change the state of many cases (each through the lifecycle)."""
    result = BulkResult([], [])
    for case in _cases(references):
        try:
            with db.session.begin_nested():
                lifecycle.change_state(case, state, actor=actor, reason=reason or "bulk")
            result.done.append(case.reference)
        except (lifecycle.CaseError, ValueError):
            result.skipped.append((case.reference, "bad_state"))
    return result


def apply_standing_offer(incident_id: int, actor, reason: str = "") -> BulkResult:
    """Offer every open delay claim of an incident the amount its standing offer gives
    (computed by the policy with the offer applied), within the actor's approval limit."""
    result = BulkResult([], [])
    cases = db.session.scalars(select(Case).where(
        Case.incident_id == incident_id, Case.kind == CaseKind.CLAIM,
        Case.type == CaseType.DELAY, Case.state.in_(OPEN_STATES),
        Case.merged_into_id.is_(None)).order_by(Case.id))
    for case in cases:
        if case.decision in ("offered", "accepted", "paid"):
            result.skipped.append((case.reference, case.decision))
            continue
        step = services.suggest(case, actor=actor, reason="standing offer")
        amount = step.amount_fen
        if amount is None:
            result.skipped.append((case.reference, "no_amount"))
            continue
        try:
            with db.session.begin_nested():
                approve(case, amount, actor, reason or "incident standing offer")
            result.done.append(case.reference)
        except WorkspaceError as error:
            result.skipped.append((case.reference, error.code))
    return result


# --- Cases created by staff -------------------------------------------------------------

def create_staff_case(*, actor, source: str, kind: str, case_type: str, customer_name: str,
                      phone_e164: str | None, email: str | None, description: str,
                      language: str = "zh_Hans", tracking_number: str | None = None,
                      claimed_fen: int | None = None, freight_fen: int | None = None) -> Case:
    """A case entered by staff from a phone call or a postal-authority (12305) forward;
    created by the claims service (legal clock: 15 days for a forward) and routed like any
    other case."""
    if source not in (CaseSource.PHONE, CaseSource.POSTAL_AUTHORITY):
        raise WorkspaceError("bad_source")
    sub = services.Submission(
        kind=kind, type=case_type, customer_name=customer_name.strip()[:80],
        phone_e164=phone_e164, description=description.strip(),
        submission_token=services.new_submission_token(), email=email or None,
        language=language, preferred_channel="sms" if phone_e164 else "email",
        tracking_number=tracking_number or None, claimed_fen=claimed_fen,
        freight_fen=freight_fen, consent=True, source=source)
    case = services.create_case(sub, actor=actor)
    if db.session.get(CaseWork, case.id) is None:  # the claims service has no hook yet
        from portal.queues.routing import route_case

        route_case(case, actor=actor)
    audit.record("queue.case_created", "case", case.reference, actor=actor, source=source)
    return case
