"""Every setting the portal reads from the environment is listed in ``.env.example``."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# env("NAME"...), _int("NAME"...), _bool(env("NAME")...), os.environ.get("NAME")
READ = re.compile(r'(?:env|_int|_float|_bool|environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"')
INTERNAL = {"PORTAL_REQUIRE_SERVICES", "PORTAL_BENCH_ROUTES", "PORTAL_BENCH_CONSTANT_FILE"}


def settings_read_by_the_portal() -> set[str]:
    names = set()
    for path in (ROOT / "portal").rglob("*.py"):
        names.update(READ.findall(path.read_text(encoding="utf-8")))
    return names - INTERNAL


def test_every_setting_is_in_env_example():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(
        encoding="utf-8"), flags=re.MULTILINE))
    missing = sorted(settings_read_by_the_portal() - documented)
    assert missing == [], f"add these to .env.example: {missing}"


def test_the_scan_finds_the_core_settings():
    # Guards the regular expression above: if it stops matching, the test above is empty.
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TWILIO_AUTH_TOKEN"} <= (
        settings_read_by_the_portal())
