"""SMS through Twilio's official SDK.

Errors map to outcomes: 21610 (the number replied STOP) -> suppressed, 21211 (invalid
``To``) and other 4xx -> failed, 429 / 20429 (too many requests), 5xx and connection
errors -> retry. ``TWILIO_API_BASE`` (tests, Prism) makes a :class:`RewritingHttpClient`
send every request for ``https://api.twilio.com`` to that base and refuse any other host.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from portal.notifications.adapters.base import Outcome, ProviderResult, SmsAdapter

log = logging.getLogger("portal.notifications.twilio")

SUPPRESSED_CODES = {21610}
RETRY_CODES = {20429}
STATUS_CALLBACK_PATH = "/hotline/sms/status"


class ForbiddenHost(TwilioException):
    """Raised when a rewriting client is asked to reach a host other than api.twilio.com."""


class RewritingHttpClient(TwilioHttpClient):
    """Sends ``https://api.twilio.com/...`` to ``base`` instead (e.g. a local Prism).

    ``extra_headers`` are added to every request (tests use ``Prefer`` to pick one of
    Prism's examples). A response with an ``sl-violations`` header (Prism found the request
    breaks Twilio's contract) is logged and kept in ``violations``.
    """

    def __init__(self, base: str, extra_headers: dict | None = None, **kwargs):
        """Remember the base URL and the extra headers."""
        super().__init__(**kwargs)
        self.base = base.rstrip("/")
        self.extra_headers = dict(extra_headers or {})
        self.violations: list[str] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        """Rewrite the URL, add the extra headers, then send as the SDK would."""
        parts = urlsplit(url)
        if parts.hostname != "api.twilio.com":
            raise ForbiddenHost(f"refusing to send to {parts.hostname!r}")
        rewritten = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {**(headers or {}), **self.extra_headers}
        response = super().request(method, rewritten, params=params, data=data,
                                   headers=headers, auth=auth, timeout=timeout,
                                   allow_redirects=allow_redirects)
        violation = (response.headers or {}).get("sl-violations")
        if violation:
            self.violations.append(violation)
            log.warning("Twilio contract violation: %s", violation)
        return response


def build_client(config: dict) -> Client:
    """The Twilio ``Client`` for these settings (rewriting to ``TWILIO_API_BASE`` if set)."""
    http_client = None
    if config.get("TWILIO_API_BASE"):
        http_client = RewritingHttpClient(
            config["TWILIO_API_BASE"], extra_headers=config.get("TWILIO_EXTRA_HEADERS"),
            timeout=config.get("TWILIO_TIMEOUT_SECONDS", 15))
    else:
        http_client = TwilioHttpClient(timeout=config.get("TWILIO_TIMEOUT_SECONDS", 15))
    return Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                  http_client=http_client)


def classify(error: TwilioRestException) -> Outcome:
    """Map a Twilio REST error to an outcome."""
    code = error.code
    if code in SUPPRESSED_CODES:
        return Outcome.SUPPRESSED
    if code in RETRY_CODES or error.status == 429 or error.status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


class TwilioSmsAdapter(SmsAdapter):
    """Creates one Twilio Message per outbox row."""

    name = "twilio"
    batched = True  # network-bound: outcomes are written in bulk (notifications.batch)

    def __init__(self, config: dict):
        """Build the SDK client once per adapter."""
        self.config = config
        self.client = build_client(config)

    def warm_up(self) -> None:
        """The SDK imports its API modules on first use (~0.3 s): do it now."""
        self.client.messages  # noqa: B018 - the attribute access is the import

    def sent_messages(self, to: str, since) -> list:
        """Messages Twilio holds for ``to`` (one page, newest first), for reconciliation.

        Twilio filters only by ``DateSent``, which a queued message does not have yet, so
        the window is applied by ``reconcile.match_sent`` on ``date_created``. Raises
        ``ReconcileUnavailable`` when Twilio cannot be asked.
        """
        from portal.notifications.reconcile import ReconcileUnavailable, SentRecord

        kwargs = {"to": to, "page_size": int(self.config.get("TWILIO_RECONCILE_PAGE", 50))}
        if self.config.get("TWILIO_FROM_NUMBER") and not self.config.get(
                "TWILIO_MESSAGING_SERVICE_SID"):
            kwargs["from_"] = self.config["TWILIO_FROM_NUMBER"]
        try:
            page = self.client.messages.page(**kwargs)
        except (TwilioException, OSError) as error:
            raise ReconcileUnavailable(f"{type(error).__name__}: {error}") from error
        return [SentRecord(sid=r.sid, to=r.to or "", body=r.body or "",
                           date_created=r.date_created, direction=r.direction or "",
                           status=r.status or "", from_=r.from_ or "")
                for r in page]

    def send(self, message) -> ProviderResult:
        """Create the message at Twilio with a status callback to the hotline."""
        kwargs = {
            "to": message.recipient,
            "body": message.body_text,
            "status_callback": self.config["PUBLIC_BASE_URL"] + STATUS_CALLBACK_PATH,
        }
        if self.config.get("TWILIO_MESSAGING_SERVICE_SID"):
            kwargs["messaging_service_sid"] = self.config["TWILIO_MESSAGING_SERVICE_SID"]
        else:
            kwargs["from_"] = self.config["TWILIO_FROM_NUMBER"]
        try:
            created = self.client.messages.create(**kwargs)
        except TwilioRestException as error:
            return ProviderResult(classify(error), self.name,
                                  error_code=str(error.code or error.status),
                                  detail=str(error.msg)[:500])
        except ForbiddenHost as error:
            return ProviderResult(Outcome.FAILED, self.name, error_code="host",
                                  detail=str(error))
        except (TwilioException, OSError) as error:
            return ProviderResult(Outcome.RETRY, self.name, error_code="network",
                                  detail=f"{type(error).__name__}: {error}"[:500])
        return ProviderResult(Outcome.SENT, self.name, provider_id=created.sid,
                              provider_status=created.status)
