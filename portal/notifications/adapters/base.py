"""The provider-neutral interface and the factory that picks a backend per channel."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass

from flask import current_app


class Outcome(enum.StrEnum):
    """What came of handing a message to a provider."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class ProviderResult:
    """The provider's answer to one send."""

    outcome: Outcome
    provider: str
    provider_id: str | None = None
    error_code: str | None = None
    detail: str | None = None
    provider_status: str | None = None


class _Adapter(ABC):
    """Common shape of every adapter."""

    name = "adapter"

    @abstractmethod
    def send(self, message) -> ProviderResult:
        """Hand ``message`` (an OutboxMessage) to the provider and report the outcome."""

    def warm_up(self) -> None:  # noqa: B027 - optional: most adapters have nothing to load
        """Load now what the first send would (a worker calls this at start)."""


class EmailAdapter(_Adapter):
    """Sends email messages."""


class SmsAdapter(_Adapter):
    """Sends SMS messages."""


def get_adapter(channel: str, config: dict | None = None) -> _Adapter:
    """Build the adapter configured for ``channel`` ("email" or "sms")."""
    config = config if config is not None else current_app.config
    if channel == "email":
        backend = config.get("MAIL_BACKEND", "folder")
        if backend == "smtp":
            from portal.notifications.adapters.email import SmtpEmailAdapter

            return SmtpEmailAdapter(config)
        if backend == "folder":
            from portal.notifications.adapters.email import FolderEmailAdapter

            return FolderEmailAdapter(config)
        raise ValueError(f"unknown MAIL_BACKEND {backend!r}")
    if channel == "sms":
        backend = config.get("SMS_BACKEND", "folder")
        if backend == "twilio":
            from portal.notifications.adapters.twilio import TwilioSmsAdapter

            return TwilioSmsAdapter(config)
        if backend == "folder":
            from portal.notifications.adapters.folder import FolderSmsAdapter

            return FolderSmsAdapter(config)
        raise ValueError(f"unknown SMS_BACKEND {backend!r}")
    raise ValueError(f"unknown channel {channel!r}")
