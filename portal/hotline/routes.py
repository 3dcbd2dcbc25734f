"""Twilio webhooks: ``POST /hotline/sms`` (inbound messages) and ``POST /hotline/sms/status``
(status callbacks). Both check ``X-Twilio-Signature`` first: a bad signature gets 403 and
nothing is read or written. They are exempt from CSRF (Twilio cannot send a token; the
signature authenticates it) and from the per-address limits (Twilio calls from shared
addresses; the hotline limits per phone number instead).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from twilio.twiml.messaging_response import MessagingResponse

from portal.extensions import csrf, db
from portal.hotline import services
from portal.hotline.models import SmsInbound
from portal.hotline.signature import is_valid_request
from portal.limits import exempt_from_limits

bp = Blueprint("hotline", __name__, url_prefix="/hotline")


def twiml(reply: str | None) -> Response:
    """A TwiML answer: one ``<Message>`` with the reply, or an empty ``<Response/>``."""
    answer = MessagingResponse()
    if reply:
        answer.message(reply)
    return Response(str(answer), mimetype="text/xml")


@bp.post("/sms")
@csrf.exempt
@exempt_from_limits
def inbound_sms():
    """Answer an inbound SMS with TwiML in the sender's language."""
    if not is_valid_request():
        abort(403)
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    sender = form.get("From") or ""
    if not sid or not sender:
        abort(400)
    inbound = services.Inbound(sid=sid, sender=sender, to=form.get("To") or "",
                               body=form.get("Body") or "")
    try:
        handled = services.handle(inbound)
        db.session.commit()
    except IntegrityError:  # the same MessageSid raced in twice: answer like the first
        db.session.rollback()
        earlier = db.session.scalar(select(SmsInbound).where(SmsInbound.message_sid == sid))
        if earlier is None:
            raise
        return twiml(earlier.reply)
    return twiml(handled.reply)


@bp.post("/sms/status")
@csrf.exempt
@exempt_from_limits
def sms_status():
    """Record a status callback (sent, delivered, undelivered, failed...)."""
    if not is_valid_request():
        abort(403)
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not sid or not status:
        abort(400)
    services.record_status(sid, status, form.get("ErrorCode") or None, form.get("To") or "")
    db.session.commit()
    return Response("", status=204)
