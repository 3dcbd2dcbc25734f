"""Messages to the customer about their case, all through the notifications core.

Each function writes outbox rows (``notify``) in the caller's transaction: a message
exists once the case change it reports is committed, and is delivered afterwards. Email
goes to the address on file (text and HTML, in the case's language); SMS to the phone on
file. Idempotency keys name the event, so writing the same event twice sends it once.
"""

from __future__ import annotations

from flask import current_app

from portal.cases.models import Case, Channel
from portal.notifications.services import Recipient, notify


def _recipients(case: Case, *, sms: bool = True) -> list[Recipient]:
    people = []
    if case.email:
        people.append(Recipient("email", case.email, case.language))
    wants_sms = sms and (case.preferred_channel != Channel.EMAIL or not case.email)
    if case.phone_e164 and wants_sms and "sms" in current_app.config.get(
            "NOTIFY_CHANNELS", ["email", "sms"]):
        people.append(Recipient("sms", case.phone_e164, case.language))
    return people


# The values of ``_context`` that the confirmation templates only print: a confirmation is
# filled in from a stencil per language (``portal/notifications/stencil.py``), as one is
# written on every claim.
_SLOTS = frozenset({"reference", "tracking_number", "customer_name", "legal_due_at",
                    "status_url", "status_path", "suggested_fen", "offered_fen"})


def _context(case: Case, **extra) -> dict:
    from portal.cases.access import status_path, status_url

    return {"reference": case.reference, "kind": case.kind, "type": case.type,
            "state": case.state, "tracking_number": case.tracking_number,
            "customer_name": case.customer_name, "legal_due_at": case.legal_due_at,
            "status_url": status_url(case, case.language), "status_path": status_path(case),
            "suggested_fen": case.suggested_fen, "offered_fen": case.offered_fen, **extra}


def received(case: Case, suppressed: frozenset[tuple[str, str]] | None = None) -> None:
    """Confirmation of a new case: email (text and HTML) and SMS when a phone was given.

    ``suppressed``: the contacts on the suppression list, when filing has read them (then
    the outbox is not asked again: its keys name the new case's reference, so none of
    them can exist yet)."""
    people = []
    if case.email:
        people.append(Recipient("email", case.email, case.language))
    if case.phone_e164:
        people.append(Recipient("sms", case.phone_e164, case.language))
    notify("case_received", people, _context(case), event_key=f"case:{case.reference}:received",
           slots=_SLOTS, attach=False,
           known=(frozenset(), suppressed) if suppressed is not None else None)


def appended(case: Case, message_id: int) -> None:
    """A new submission was added to the customer's open case (sent to the contacts on file,
    so a stranger who typed the same phone learns nothing on screen)."""
    notify("case_appended", _recipients(case), _context(case),
           event_key=f"case:{case.reference}:appended:{message_id}", slots=_SLOTS,
           attach=False)


def updated(case: Case, what: str, event_id: int, **extra) -> None:
    """A staff reply, an offer, a payment or a state change the customer should know of.

    ``what``: reply, offer, paid, resolved, waiting, reopened.
    """
    notify("case_update", _recipients(case), _context(case, what=what, **extra),
           event_key=f"case:{case.reference}:{what}:{event_id}")


def rating_request(case: Case) -> None:
    """After closing: ask for a one-click rating."""
    from portal.cases.access import rating_url

    notify("case_rating", _recipients(case), _context(case, rating_url=rating_url(
        case, case.language)), event_key=f"case:{case.reference}:rating")


def references(channel: str, address: str, language: str, cases: list[Case],
               event_key: str) -> None:
    """The open references of a phone or email, sent there ("I lost my reference")."""
    from portal.cases.access import status_url

    items = [{"reference": c.reference, "tracking_number": c.tracking_number,
              "status_url": status_url(c, language)} for c in cases]
    notify("case_references", [Recipient(channel, address, language)],
           {"cases": items, "count": len(items)}, event_key=event_key)
