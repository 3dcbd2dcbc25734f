"""The hotline's business: answer one inbound SMS, and record status callbacks.

``handle`` is called by the webhook after the signature check. It reads the command
(``commands.parse``), picks the reply language, acts through the other features'
services (parcels look-up, cases, subscriptions) and returns the reply text, or None when
nothing must be sent (Twilio's own STOP/START, a suppressed number, a rate-limited
sender). It adds and flushes; the route commits.

- Language: words in the message decide (Chinese characters, Traditional or Simplified
  by OpenCC, or English free text) and are remembered for the number; otherwise the
  remembered language; otherwise the number's region (Hong Kong, Macau, Taiwan:
  Traditional; mainland: Simplified; elsewhere: English).
- The same ``MessageSid`` twice (Twilio retries a webhook that timed out) gets the reply
  recorded the first time and changes nothing.
- Per-number limits (``RATELIMIT_HOTLINE_NUMBER``, ``RATELIMIT_HOTLINE_NUMBER_DAY``); a
  limited sender is told once per ``RATELIMIT_HOTLINE_NOTICE`` and otherwise ignored.
  Opt-out and opt-in words are never limited: they must always take effect.
- A suppressed number (it texted STOP or TD, or Twilio answered 21610) gets no reply
  except to HELP, START, TD and SUB (which is an opt-in: the customer asks for messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.hotline import commands
from portal.hotline.commands import Command
from portal.hotline.models import SmsContact, SmsInbound, SmsStatusEvent
from portal.i18n import LANGUAGES
from portal.limits import hit
from portal.notifications import services as notifications
from portal.notifications import sms
from portal.notifications.models import OutboxMessage, OutboxStatus

TRADITIONAL_REGIONS = {"HK", "MO", "TW"}
ANSWER_WHEN_SUPPRESSED = {"help", "twilio_start", "unsubscribe", "subscribe"}
NEVER_LIMITED = {"twilio_stop", "twilio_start", "unsubscribe"}


@dataclass(frozen=True)
class Inbound:
    """One inbound message as Twilio posts it."""

    sid: str
    sender: str
    to: str
    body: str


@dataclass
class Handled:
    """What the hotline did with a message."""

    command: Command
    language: str
    outcome: str
    reply: str | None
    case_reference: str | None = None


# --- language -------------------------------------------------------------------------------

def region_of(phone: str) -> str | None:
    """ISO region of an E.164 number (``HK``, ``CN``...), or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


def region_language(phone: str, chinese: bool = False) -> str:
    """The default language for a number's region (``chinese``: the message is Chinese
    but its script could not be told)."""
    region = region_of(phone)
    if region in TRADITIONAL_REGIONS:
        return "zh_Hant"
    if region == "CN" or chinese:
        return "zh_Hans"
    return "en"


def choose_language(phone: str, command: Command, now: datetime) -> str:
    """Pick the reply language and remember it for the number (see module docstring)."""
    contact = db.session.get(SmsContact, phone)
    evidence = commands.evidence_language(command)
    if evidence in LANGUAGES:
        language, source = evidence, "message"
    elif evidence == "zh":
        if contact is not None and contact.language.startswith("zh"):
            language, source = contact.language, contact.language_source
        else:
            language, source = region_language(phone, chinese=True), "message"
    elif contact is not None:
        language, source = contact.language, contact.language_source
    else:
        language, source = region_language(phone), "region"
    if contact is None:
        contact = SmsContact(phone=phone, language=language, language_source=source,
                             first_seen_at=now, last_seen_at=now, inbound_count=0)
        db.session.add(contact)
    elif source == "message":
        contact.language, contact.language_source = language, source
    contact.last_seen_at = now
    contact.inbound_count = (contact.inbound_count or 0) + 1
    return language


# --- replies ------------------------------------------------------------------------------

def render_reply(name: str, language: str, phone: str, **context) -> str:
    """Render ``templates/sms/hotline_<name>.txt`` in ``language``, compactly, within
    ``HOTLINE_REPLY_MAX_SEGMENTS`` (shortened with an ellipsis when it would not fit)."""
    config = current_app.config
    values = {
        "hotline_number": config.get("HOTLINE_NUMBER", "95000"),
        "sms_number": config.get("HOTLINE_SMS_NUMBER") or config.get("TWILIO_FROM_NUMBER"),
        "public_base_url": config["PUBLIC_BASE_URL"],
        "language": language,
        **context,
    }
    with force_locale(language):
        text = render_template(f"sms/hotline_{name}.txt", **values)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = "\n".join(line for line in lines if line)
    text = sms.with_signature(text, phone, config.get("SMS_SIGNATURE", ""))
    return sms.fit(text, int(config.get("HOTLINE_REPLY_MAX_SEGMENTS", 2)))


# --- commands -----------------------------------------------------------------------------

def _lookup(handled: Handled, phone: str) -> None:
    from portal.parcels import queries

    most = int(current_app.config.get("HOTLINE_MAX_NUMBERS", 5))
    numbers = list(handled.command.numbers)
    lines, _truncated = queries.lookup("\n".join(numbers[:most]))
    handled.outcome = "lookup"
    handled.reply = render_reply("lookup", handled.language, phone, lines=lines,
                                 more=max(0, len(numbers) - most))


def _case_status(handled: Handled, phone: str) -> None:
    from portal.cases import services as cases

    case = cases.by_reference(handled.command.reference)
    while case is not None and case.merged_into_id:
        case = db.session.get(type(case), case.merged_into_id)
    if case is None or not case.phone_e164 or case.phone_e164 != phone:
        handled.outcome = "case_not_shown"  # the same answer whether it exists or not
        handled.reply = render_reply("case_unknown", handled.language, phone,
                                     reference=handled.command.reference)
        return
    handled.outcome = "case_status"
    handled.case_reference = case.reference
    handled.reply = render_reply("case_status", handled.language, phone, case=case)


def _subscribe(handled: Handled, phone: str) -> None:
    from portal.parcels import tracking

    most = int(current_app.config.get("HOTLINE_MAX_NUMBERS", 5))
    if not handled.command.numbers:
        handled.outcome = "subscribe_usage"
        handled.reply = render_reply("subscribe_usage", handled.language, phone)
        return
    done, bad = [], []
    for raw in handled.command.numbers[:most]:
        checked = tracking.validate(raw)
        if not checked.ok:
            bad.append(checked.number or raw)
            continue
        try:
            notifications.subscribe("sms", phone, "parcel", checked.number,
                                    handled.language, source="sms")
        except notifications.SubscriptionError:  # a sender number we cannot text back
            handled.outcome = "subscribe_refused"
            handled.reply = render_reply("other", handled.language, phone)
            return
        done.append(checked.number)
    handled.outcome = "subscribed" if done else "subscribe_invalid"
    handled.reply = render_reply("subscribed", handled.language, phone, done=done, bad=bad)


def _unsubscribe(handled: Handled, phone: str) -> None:
    ended = notifications.unsubscribe_all("sms", phone, reason="sms:TD")
    handled.outcome = "unsubscribed"
    handled.reply = render_reply("unsubscribed", handled.language, phone, ended=ended)


def _open_case_of(phone: str):
    from portal.cases.models import OPEN_STATES, Case

    return db.session.scalar(
        select(Case).where(Case.phone_e164 == phone, Case.state.in_(OPEN_STATES),
                           Case.merged_into_id.is_(None))
        .order_by(Case.last_customer_at.desc(), Case.id.desc()).limit(1))


def _free_text(handled: Handled, phone: str, inbound: Inbound) -> None:
    """Anything else: appended to the sender's open case if there is one; a new complaint
    case when it reads as a complaint; otherwise a short reply."""
    from portal.cases import lifecycle
    from portal.cases import services as cases
    from portal.cases.models import CaseKind, CaseSource, CaseType

    command = handled.command
    open_case = _open_case_of(phone)
    if open_case is not None and command.kind == "other":
        lifecycle.customer_message(open_case, command.text)
        handled.outcome = "appended"
        handled.case_reference = open_case.reference
        handled.reply = render_reply("complaint_appended", handled.language, phone,
                                     reference=open_case.reference)
        return
    if command.complaint:
        if not hit("RATELIMIT_HOTLINE_CASE", "hotline-case", phone):
            handled.outcome = "case_limited"
            handled.reply = render_reply("other", handled.language, phone)
            return
        submission = cases.Submission(
            kind=CaseKind.COMPLAINT, type=CaseType.OTHER,
            customer_name=(f"SMS {phone}")[:80], phone_e164=phone,
            description=command.text, submission_token=f"sms:{inbound.sid}"[:64],
            language=handled.language, preferred_channel="sms",
            tracking_number=command.mentioned[0] if command.mentioned else None,
            source=CaseSource.SMS)
        result = cases.submit(submission)
        handled.outcome = "case_created" if result.created else "appended"
        handled.case_reference = result.case.reference
        handled.reply = render_reply(
            "complaint_received" if result.created else "complaint_appended",
            handled.language, phone, reference=result.case.reference)
        return
    handled.outcome = "not_understood"
    handled.reply = render_reply("other", handled.language, phone)


def _limited(phone: str) -> bool:
    return not (hit("RATELIMIT_HOTLINE_NUMBER", "hotline", phone)
                and hit("RATELIMIT_HOTLINE_NUMBER_DAY", "hotline-day", phone))


def handle(inbound: Inbound) -> Handled:
    """Answer one inbound message (see the module docstring). Adds and flushes."""
    earlier = db.session.scalar(select(SmsInbound).where(SmsInbound.message_sid == inbound.sid))
    if earlier is not None:
        return Handled(commands.parse(earlier.body), earlier.language, "replayed",
                       earlier.reply)
    now = utcnow()
    phone = inbound.sender.strip()
    extra = tuple(w for w in current_app.config.get("HOTLINE_COMPLAINT_WORDS", "").split(",")
                  if w.strip())
    command = commands.parse(inbound.body, extra)
    language = choose_language(phone, command, now)
    handled = Handled(command, language, "", None)
    if command.kind not in NEVER_LIMITED and _limited(phone):
        handled.outcome = "rate_limited"
        if hit("RATELIMIT_HOTLINE_NOTICE", "hotline-notice", phone):
            handled.reply = render_reply("rate_limited", language, phone)
    else:
        suppressed = notifications.is_suppressed("sms", phone)
        _act(handled, phone, inbound)
        if suppressed and command.kind not in ANSWER_WHEN_SUPPRESSED:
            handled.reply = None  # the number opted out: it gets answers only it asked for
            handled.outcome += ":suppressed"
    case_id = None
    if handled.case_reference:
        from portal.cases import services as cases

        found = cases.by_reference(handled.case_reference)
        case_id = found.id if found else None
    db.session.add(SmsInbound(
        message_sid=inbound.sid[:64], from_number=phone[:32], to_number=inbound.to[:32],
        body=inbound.body or "", command=command.kind, language=language,
        outcome=handled.outcome[:40], reply=handled.reply, case_id=case_id, created_at=now))
    db.session.flush()
    return handled


def _act(handled: Handled, phone: str, inbound: Inbound) -> None:
    kind = handled.command.kind
    if kind == "twilio_stop":
        # Twilio has already answered and will refuse to send (21610): record, say nothing
        notifications.unsubscribe_all("sms", phone, reason="twilio:STOP")
        handled.outcome = "opted_out"
    elif kind == "twilio_start":
        notifications.opt_in("sms", phone)
        handled.outcome = "opted_in"  # Twilio confirms it itself
    elif kind == "unsubscribe":
        _unsubscribe(handled, phone)
    elif kind == "help":
        handled.outcome = "help"
        handled.reply = render_reply("help", handled.language, phone)
    elif kind == "subscribe":
        _subscribe(handled, phone)
    elif kind == "case":
        _case_status(handled, phone)
    elif kind == "tracking":
        _lookup(handled, phone)
    else:
        _free_text(handled, phone, inbound)


# --- status callbacks -----------------------------------------------------------------------

STATUS_RANK = {"accepted": 0, "queued": 0, "scheduled": 0, "sending": 1, "sent": 2,
               "delivered": 3, "undelivered": 3, "failed": 3, "canceled": 3,
               "partially_delivered": 3, "read": 4}
FAILED_STATUSES = {"undelivered", "failed", "canceled"}


def record_status(sid: str, status: str, error_code: str | None, to: str) -> SmsStatusEvent:
    """Record one status callback and apply it to the outbox row with that Twilio id.

    Statuses only move forward (a late "sent" never overwrites "delivered"); delivered
    marks the row delivered, undelivered/failed mark it failed with the carrier's code
    so staff see why and can retry it. A callback for a message whose outcome is not
    written yet (outcomes are written in bulk, within ``OUTBOX_RECORD_SECONDS``, or later
    by reconciliation after a crash) is kept unmatched and applied by
    :func:`apply_unmatched_statuses`.
    """
    status = (status or "").strip().lower()[:30]
    now = utcnow()
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.provider_id == sid)
                            .limit(1)) if sid else None
    event = SmsStatusEvent(message_sid=sid[:64], outbox_id=row.id if row else None,
                           status=status, error_code=(error_code or None) and error_code[:20],
                           to_number=(to or "")[:32], received_at=now)
    db.session.add(event)
    if row is not None:
        _apply_status(row, status, error_code, now)
    db.session.flush()
    return event


def _apply_status(row: OutboxMessage, status: str, error_code: str | None, when) -> None:
    current = STATUS_RANK.get(row.provider_status or "", 0)
    if STATUS_RANK.get(status, 0) < current:
        return
    row.provider_status = status
    if status == "delivered":
        row.status = OutboxStatus.DELIVERED
        row.delivered_at = when
    elif status in FAILED_STATUSES:
        row.status = OutboxStatus.FAILED
        row.error_code = error_code or status
        row.last_error = f"carrier reported {status}" + (
            f" (error {error_code})" if error_code else "")


def apply_unmatched_statuses(within_hours: int = 48, limit: int = 1000) -> int:
    """Apply status callbacks that arrived before their message was recorded as sent.

    Such callbacks were stored without an outbox row; once the row carries the Twilio id,
    they are applied in the order received (statuses only move forward) and linked.
    Returns how many were applied. Periodic (``HOTLINE_STATUS_SWEEP_SECONDS``)."""
    since = utcnow() - timedelta(hours=within_hours)
    pairs = db.session.execute(
        select(SmsStatusEvent, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.provider_id == SmsStatusEvent.message_sid)
        .where(SmsStatusEvent.outbox_id.is_(None), SmsStatusEvent.received_at >= since,
               SmsStatusEvent.message_sid != "")
        .order_by(SmsStatusEvent.received_at, SmsStatusEvent.id).limit(limit)).all()
    for event, row in pairs:
        _apply_status(row, event.status, event.error_code, event.received_at)
        event.outbox_id = row.id
    db.session.flush()
    return len(pairs)
