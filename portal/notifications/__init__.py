"""Notifications core: subscriptions, outbox, templates per channel and language, delivery."""
