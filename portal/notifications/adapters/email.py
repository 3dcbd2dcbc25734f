"""Email adapters: SMTP through Flask-Mail, and a folder of ``.eml`` files (embedded default).

Both build the same multipart (text + HTML) message with a stable ``Message-ID`` derived
from the outbox idempotency key, so a resend after a crash carries the same id and mail
systems can recognise the duplicate; ``Content-Language`` names the message's language and
``List-Unsubscribe`` the subscription's unsubscribe page.
"""

from __future__ import annotations

import hashlib
import smtplib
from email import policy as email_policy
from email.utils import parseaddr

from flask import current_app
from flask_mail import Message

from portal.i18n import HTML_LANG
from portal.notifications.adapters.base import EmailAdapter, Outcome, ProviderResult
from portal.notifications.adapters.folder import write_unique


class PortalMail(Message):
    """Flask-Mail message whose long headers (a ``List-Unsubscribe`` URL) are folded, not
    turned into RFC 2047 encoded words that mail clients cannot use as a link."""

    def _message(self):
        msg = super()._message()
        msg.policy = email_policy.SMTP.clone(max_line_length=998)
        return msg


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt at one outbox row."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "portal.invalid"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_mail(message, config: dict) -> Message:
    """Turn an outbox row into a Flask-Mail message (text, and HTML when present)."""
    from portal.notifications.links import unsubscribe_url_for

    sender = config.get("MAIL_DEFAULT_SENDER") or "noreply@portal.invalid"
    headers = {
        "Content-Language": HTML_LANG.get(message.language, message.language),
        "X-Portal-Message-Key": message.idempotency_key,
    }
    unsubscribe = unsubscribe_url_for(message)
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail = PortalMail(
        subject=message.subject,
        recipients=[message.recipient],
        body=message.body_text,
        html=message.body_html or None,
        sender=sender,
        charset="utf-8",
        extra_headers=headers,
    )
    mail.msgId = message_id(message.idempotency_key, sender)
    return mail


class SmtpEmailAdapter(EmailAdapter):
    """Sends through the SMTP server configured in ``MAIL_*`` (read at app start)."""

    name = "smtp"

    def __init__(self, config: dict):
        """Keep the settings; the connection is opened per message."""
        self.config = config

    def send(self, message) -> ProviderResult:
        """Send one message; 4xx answers and network errors are transient, 5xx permanent."""
        mail = build_mail(message, self.config)
        try:
            current_app.extensions["mail"].send(mail)
        except smtplib.SMTPRecipientsRefused as error:
            code = min((c for c, _m in error.recipients.values()), default=550)
            return self._error(code, str(error.recipients))
        except smtplib.SMTPResponseException as error:
            return self._error(error.smtp_code, repr(error.smtp_error))
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            return ProviderResult(Outcome.RETRY, self.name, error_code="network",
                                  detail=f"{type(error).__name__}: {error}")
        return ProviderResult(Outcome.SENT, self.name, provider_id=mail.msgId)

    def _error(self, code: int, detail: str) -> ProviderResult:
        outcome = Outcome.FAILED if 500 <= code < 600 else Outcome.RETRY
        return ProviderResult(outcome, self.name, error_code=str(code), detail=detail)


class FolderEmailAdapter(EmailAdapter):
    """Writes each message as an ``.eml`` file under ``OUTBOX_FOLDER/email``."""

    name = "folder"

    def __init__(self, config: dict):
        """Keep the settings."""
        self.config = config

    def send(self, message) -> ProviderResult:
        """Write the message; one file per attempt, so duplicates would be visible."""
        mail = build_mail(message, self.config)
        path = write_unique(self.config["OUTBOX_FOLDER"], "email", message.id, "eml",
                            mail.as_bytes())
        return ProviderResult(Outcome.SENT, self.name, provider_id=path.name)
