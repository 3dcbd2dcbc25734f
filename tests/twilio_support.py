"""Prism serving Twilio's published OpenAPI description, for SMS contract tests.

``write_test_spec`` copies the description and adds the answers Twilio documents but the
description lacks, on POST Messages: 400 with examples ``unsubscribed`` (21610) and
``invalid_to`` (21211), and 429 ``too_many`` (20429). A test picks one with the header
``Prefer: code=400, example=unsubscribed``. ``prism_server`` starts Prism once per session
and stops only that process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, service_unavailable

# The team's shared folder sits beside the checkout (../shared), in CI as here.
_SPEC_NAME = Path("twilio") / "twilio_api_v2010.json"
SPEC = next((folder / _SPEC_NAME for folder in (ROOT.parent / "shared", Path("/work/shared"))
             if (folder / _SPEC_NAME).exists()), ROOT.parent / "shared" / _SPEC_NAME)
PRISM = ROOT / "node_modules" / ".bin" / "prism"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                   "more_info": {"type": "string"}, "status": {"type": "integer"}},
}


def _error(code: int, status: int, message: str) -> dict:
    return {"value": {"code": code, "message": message, "status": status,
                      "more_info": f"https://www.twilio.com/docs/errors/{code}"}}


def write_test_spec(folder: Path) -> Path:
    """Write the test copy of the description (with 21610, 21211 and 429) into ``folder``."""
    if not SPEC.exists():
        service_unavailable(f"Twilio's OpenAPI description not found at {SPEC}")
    spec = json.loads(SPEC.read_text())
    responses = spec["paths"][MESSAGES]["post"]["responses"]
    responses["400"] = {
        "description": "Bad request",
        "content": {"application/json": {"schema": ERROR_SCHEMA, "examples": {
            "unsubscribed": _error(21610, 400, "Attempt to send to unsubscribed recipient"),
            "invalid_to": _error(21211, 400, "The 'To' number is not a valid phone number."),
        }}},
    }
    responses["429"] = {
        "description": "Too many requests",
        "content": {"application/json": {"schema": ERROR_SCHEMA, "examples": {
            "too_many": _error(20429, 429, "Too Many Requests"),
        }}},
    }
    path = folder / "twilio_test_spec.json"
    path.write_text(json.dumps(spec))
    return path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(base: str) -> bool:
    try:
        urllib.request.urlopen(base + "/2010-04-01/Accounts.json", timeout=1)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means Prism is up
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def prism_server(tmp_path_factory):
    """Base URL of a Prism mock of the test copy of Twilio's description."""
    if not PRISM.exists():
        service_unavailable("node_modules/.bin/prism is missing (run npm install)")
    spec = write_test_spec(tmp_path_factory.mktemp("twilio"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("prism-log") / "prism.log").open("w")
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    process = subprocess.Popen([str(PRISM), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not _answers(base):
            if process.poll() is not None or time.monotonic() > deadline:
                service_unavailable(f"Prism did not start (see {log.name})")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def twilio_settings(base: str, prefer: str | None = None) -> dict:
    """App settings that send SMS through the SDK to Prism."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": "test-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_API_BASE": base,
        "TWILIO_EXTRA_HEADERS": {"Prefer": prefer} if prefer else {},
    }
