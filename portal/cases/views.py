"""What the customer's pages show about a case, and helpers shared by the routes
(reading uploads, wording evidence errors). No database writes here."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.cases.clock import days_left
from portal.cases.evidence import EvidenceError, Upload
from portal.cases.models import Case, CaseState, DecisionStep, MessageKind
from portal.db import utcnow

STATE_LABELS = {
    CaseState.NEW: _l("Received"),
    CaseState.OPEN: _l("Being handled"),
    CaseState.WAITING_CUSTOMER: _l("Waiting for your answer"),
    CaseState.RESOLVED: _l("Resolved"),
    CaseState.CLOSED: _l("Closed"),
}
NEXT_STEPS = {
    CaseState.NEW: _l("Our customer service team will look at your case and answer you."),
    CaseState.OPEN: _l("Our customer service team is working on your case."),
    CaseState.WAITING_CUSTOMER: _l("We need your answer: see our last message or the offer below."),
    CaseState.RESOLVED: _l("Your case is resolved. If something is still wrong, write to us below and we will reopen it."),  # noqa: E501
    CaseState.CLOSED: _l("Your case is closed."),
}
EVIDENCE_CODES = {
    "proof_of_value": _l("proof of the value (invoice, receipt or order)"),
    "invoice": _l("an invoice (for values above the policy's threshold)"),
    "photo_item": _l("photos of the item"),
    "photo_packaging": _l("photos of the packaging inside and out"),
    "photo_label": _l("a photo of the label"),
}


def uploads_from(files) -> list[Upload]:
    """The files of a multiple file field, read up to the size limit plus one byte."""
    limit = int(current_app.config.get("CASES_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024))
    uploads = []
    for storage in files or []:
        if not getattr(storage, "filename", ""):
            continue
        uploads.append(Upload(storage.filename, storage.stream.read(limit + 1)))
    return uploads


def has_uploads(files) -> bool:
    """Whether a multiple file field holds any file (nothing is read)."""
    return any(getattr(storage, "filename", "") for storage in files or [])


def error_text(error: EvidenceError) -> str:
    """The reader's-language message for a refused file."""
    limit_mb = int(current_app.config.get("CASES_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024)) // (
        1024 * 1024)
    messages = {
        "too_large": _("%(name)s is larger than %(mb)d MB.", name=error.name, mb=limit_mb),
        "empty": _("%(name)s is empty.", name=error.name),
        "type": _("%(name)s is not a photo (JPEG, PNG, HEIC, WebP) or a PDF.", name=error.name),
        "broken": _("%(name)s could not be read; it may be damaged.", name=error.name),
    }
    return messages.get(error.code, _("%(name)s was refused.", name=error.name))


@dataclass(frozen=True)
class CaseView:
    """A case as its customer sees it."""

    state_label: str
    next_step: str
    days_left: int | None
    messages: list
    files: list
    open_offer: int | None
    decision: str | None
    paid: bool
    can_write: bool


def case_view(case: Case) -> CaseView:
    """Public facts of a case (internal notes never included)."""
    zone = current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    messages = [m for m in case.messages if m.public and m.kind != MessageKind.INTERNAL_NOTE]
    window = int(current_app.config.get("CASES_REOPEN_DAYS", 14))
    can_write = case.state != CaseState.CLOSED and not (
        case.state == CaseState.RESOLVED and case.resolved_at is not None
        and (utcnow() - case.resolved_at).days > window)
    return CaseView(
        state_label=str(STATE_LABELS[CaseState(case.state)]),
        next_step=str(NEXT_STEPS[CaseState(case.state)]),
        days_left=days_left(case.legal_due_at, utcnow(), zone) if case.state not in (
            CaseState.RESOLVED, CaseState.CLOSED) else None,
        messages=messages, files=list(case.evidence),
        open_offer=case.offered_fen if case.decision == DecisionStep.OFFERED else None,
        decision=case.decision, paid=case.decision == DecisionStep.PAID, can_write=can_write)


def yuan(fen: int | None) -> str:
    """Fen as a yuan amount, e.g. ``¥1,234.50``."""
    if fen is None:
        return "-"
    return f"¥{fen // 100:,}.{fen % 100:02d}"
