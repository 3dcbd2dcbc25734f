"""Absolute links put into messages (built from ``PUBLIC_BASE_URL``, no request needed)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import current_app

from portal.extensions import db


def public_url(path: str, language: str | None = None) -> str:
    """``PUBLIC_BASE_URL`` + ``path``, with ``?lang=`` so the page opens in that language."""
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    if language:
        url += "?" + urlencode({"lang": language})
    return url


def confirm_url(token: str, language: str | None = None) -> str:
    """The page where a pending subscription is confirmed."""
    return public_url(f"/subscriptions/confirm/{quote(token, safe='')}", language)


def unsubscribe_url(token: str, language: str | None = None) -> str:
    """The page where a subscription is ended."""
    return public_url(f"/unsubscribe/{quote(token, safe='')}", language)


def unsubscribe_url_for(message) -> str | None:
    """The unsubscribe link of an outbox row's subscription, if it has one."""
    if not message.subscription_id:
        return None
    from portal.notifications.models import Subscription

    subscription = db.session.get(Subscription, message.subscription_id)
    if subscription is None:
        return None
    return unsubscribe_url(subscription.unsubscribe_token, message.language)
