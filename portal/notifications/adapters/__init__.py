"""Delivery adapters behind a provider-neutral interface.

Every adapter takes one :class:`~portal.notifications.models.OutboxMessage` and returns a
:class:`ProviderResult` whose outcome is ``sent``, ``retry`` (transient: try again later),
``failed`` (permanent) or ``suppressed`` (the provider says the address opted out). The
backend per channel is chosen by ``MAIL_BACKEND`` (``smtp`` | ``folder``) and
``SMS_BACKEND`` (``twilio`` | ``folder``).
"""

from __future__ import annotations

from portal.notifications.adapters.base import (
    EmailAdapter,
    Outcome,
    ProviderResult,
    SmsAdapter,
    get_adapter,
)

__all__ = ["EmailAdapter", "Outcome", "ProviderResult", "SmsAdapter", "get_adapter"]
