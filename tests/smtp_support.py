"""A real SMTP server for tests (aiosmtpd on a free loopback port) and mail helpers.

``conftest.py`` loads this module as a plugin, so every test can ask for ``smtp_server``;
import ``mail_parts`` and ``free_port`` where needed.
"""

from __future__ import annotations

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every envelope; refuses addresses it is told to."""

    def __init__(self):
        self.envelopes = []
        self.refuse: dict[str, str] = {}
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A running SMTP server; ``.envelopes`` holds what arrived, ``.port`` its port."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def mail_parts(envelope):
    """(message, plain text part, HTML part) of a received envelope."""
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return message, text, html
