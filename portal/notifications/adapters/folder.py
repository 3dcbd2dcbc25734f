"""Folder adapters: messages written to files instead of sent (development, demo, tests)."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

from portal.notifications.adapters.base import Outcome, ProviderResult, SmsAdapter


def write_unique(folder: str, channel: str, message_id: int, suffix: str, data: bytes) -> Path:
    """Write ``data`` to a new file ``<folder>/<channel>/<time>-<id>-<random>.<suffix>``."""
    target = Path(folder) / channel
    target.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = target / f"{stamp}-{message_id}-{secrets.token_hex(3)}.{suffix}"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # readers never see half a file
    return path


class FolderSmsAdapter(SmsAdapter):
    """Writes each SMS as a ``.json`` file under ``OUTBOX_FOLDER/sms``."""

    name = "folder"

    def __init__(self, config: dict):
        """Keep the settings."""
        self.config = config

    def send(self, message) -> ProviderResult:
        """Write the message with its recipient, body and idempotency key."""
        record = {
            "id": message.id,
            "to": message.recipient,
            "body": message.body_text,
            "language": message.language,
            "template": message.template,
            "idempotency_key": message.idempotency_key,
        }
        path = write_unique(self.config["OUTBOX_FOLDER"], "sms", message.id, "json",
                            json.dumps(record, ensure_ascii=False, indent=1).encode())
        return ProviderResult(Outcome.SENT, self.name, provider_id=path.name)
