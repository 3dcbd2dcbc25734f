"""Settings from the environment, with safe defaults for the embedded mode.

With nothing set, the portal runs on SQLite under ``instance/``, delivers email and SMS
to a folder, and runs background jobs in an embedded Celery worker using the filesystem
transport. Production mode (``PORTAL_ENV=production``) refuses to start when a setting
that would silently lose messages or weaken security is missing (see ``check_production``).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production
ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """Raised when the configuration is unsafe for the chosen mode."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _list(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _sla_defaults(value: str) -> dict[int, tuple[int, int]]:
    """``1=60/480,...``: priority = first response / resolution business minutes."""
    result = {}
    for part in _list(value):
        priority, _, targets = part.partition("=")
        first, _, resolution = targets.partition("/")
        result[int(priority)] = (int(first), int(resolution))
    return result


def _limits(value: str) -> dict[str, int | None]:
    """``agent=500,supervisor=5000,commander=``: yuan per role (empty: no limit) -> fen."""
    result: dict[str, int | None] = {}
    for part in _list(value):
        role, _, amount = part.partition("=")
        result[role.strip()] = int(float(amount) * 100) if amount.strip() else None
    return result


def load_config(instance_path: str) -> dict:
    """Read every setting from the environment and return a config mapping."""
    env = os.environ.get
    instance = Path(instance_path)
    database_url = env("DATABASE_URL") or f"sqlite:///{instance / 'portal.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    redis_url = env("REDIS_URL") or ""
    production = env("PORTAL_ENV", "development") == "production"
    return {
        "PORTAL_ENV": "production" if production else "development",
        "SECRET_KEY": env("SECRET_KEY") or DEFAULT_SECRET_KEY,
        # Key for the "prove it's yours" HMACs; derived from SECRET_KEY when unset.
        "VERIFICATION_KEY": env("VERIFICATION_KEY") or "",
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Pooled connections idle this long are tested before use (db_events.py).
        "DB_PING_IDLE_SECONDS": _int("DB_PING_IDLE_SECONDS", 10),
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": env("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Sessions and cookies
        "SESSION_COOKIE_SECURE": _bool(env("SESSION_COOKIE_SECURE"), production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(env("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": _int("STAFF_SESSION_HOURS", 12) * 3600,
        "WTF_CSRF_TIME_LIMIT": None,
        # Staff login lock-out
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_MINUTES": _int("LOGIN_LOCKOUT_MINUTES", 15),
        # "Prove it's yours" lock-out
        "VERIFY_MAX_FAILURES": _int("VERIFY_MAX_FAILURES", 5),
        "VERIFY_LOCKOUT_MINUTES": _int("VERIFY_LOCKOUT_MINUTES", 30),
        # Languages and time
        "LANGUAGES": ["zh_Hans", "zh_Hant", "en"],
        "BABEL_DEFAULT_LOCALE": "zh_Hans",
        "BABEL_DEFAULT_TIMEZONE": env("PORTAL_TIMEZONE", "Asia/Shanghai"),
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "portal" / "translations"),
        "OPENCC_CONVERSION": env("OPENCC_CONVERSION", "s2t"),
        # Rate limits
        "RATELIMIT_ENABLED": _bool(env("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": env("RATELIMIT_STORAGE_URI") or redis_url or "memory://",
        "RATELIMIT_DEFAULT": env("RATELIMIT_DEFAULT", "3000 per minute"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_LOGIN": env("RATELIMIT_LOGIN", "30 per minute"),
        # Email
        "MAIL_BACKEND": env("MAIL_BACKEND", "smtp" if env("MAIL_SERVER") else "folder"),
        "MAIL_SERVER": env("MAIL_SERVER", "localhost"),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool(env("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _bool(env("MAIL_USE_SSL")),
        "MAIL_USERNAME": env("MAIL_USERNAME"),
        "MAIL_PASSWORD": env("MAIL_PASSWORD"),
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER", "Incident Portal <noreply@example.com>"),
        "MAIL_SUPPRESS_SEND": False,
        # Channels in use; production refuses to start when one lacks its settings.
        "NOTIFY_CHANNELS": [
            c.strip() for c in env("NOTIFY_CHANNELS", "email,sms").split(",") if c.strip()
        ],
        # SMS
        "SMS_BACKEND": env("SMS_BACKEND", "twilio" if env("TWILIO_ACCOUNT_SID") else "folder"),
        "TWILIO_ACCOUNT_SID": env("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": env("TWILIO_AUTH_TOKEN", ""),
        "TWILIO_FROM_NUMBER": env("TWILIO_FROM_NUMBER", ""),
        "TWILIO_MESSAGING_SERVICE_SID": env("TWILIO_MESSAGING_SERVICE_SID", ""),
        "TWILIO_API_BASE": env("TWILIO_API_BASE", ""),  # tests point this at Prism
        "TWILIO_TIMEOUT_SECONDS": _int("TWILIO_TIMEOUT_SECONDS", 15),
        "SMS_SIGNATURE": env("SMS_SIGNATURE", "【速递】"),
        "SMS_MAX_SEGMENTS": _int("SMS_MAX_SEGMENTS", 3),
        "OUTBOX_FOLDER": env("OUTBOX_FOLDER") or str(instance / "outbox"),
        # Outbox delivery
        "OUTBOX_MAX_ATTEMPTS": _int("OUTBOX_MAX_ATTEMPTS", 8),
        "OUTBOX_LEASE_SECONDS": _int("OUTBOX_LEASE_SECONDS", 300),
        "OUTBOX_BATCH_SIZE": _int("OUTBOX_BATCH_SIZE", 100),
        "OUTBOX_DISPATCH": env("OUTBOX_DISPATCH", "celery"),  # "celery" or "none"
        "OUTBOX_RETRY_BASE_SECONDS": _int("OUTBOX_RETRY_BASE_SECONDS", 30),
        "OUTBOX_RETRY_MAX_SECONDS": _int("OUTBOX_RETRY_MAX_SECONDS", 3600),
        "OUTBOX_STALE_MINUTES": _int("OUTBOX_STALE_MINUTES", 30),  # staff "long pending"
        "OUTBOX_TASK_MAX_BATCHES": _int("OUTBOX_TASK_MAX_BATCHES", 20),
        # Subscriptions
        "SUBSCRIPTION_CONFIRM_HOURS": _int("SUBSCRIPTION_CONFIRM_HOURS", 72),
        "SUBSCRIBE_RESEND_MINUTES": _int("SUBSCRIBE_RESEND_MINUTES", 10),
        "PHONE_DEFAULT_REGION": env("PHONE_DEFAULT_REGION", "CN"),
        # Background work
        "CELERY_BROKER_URL": env("CELERY_BROKER_URL") or redis_url or "filesystem://",
        "CELERY_RESULT_BACKEND": env("CELERY_RESULT_BACKEND") or "",
        "CELERY_ALWAYS_EAGER": _bool(env("CELERY_ALWAYS_EAGER")),
        "CELERY_DATA_FOLDER": str(instance / "celery"),
        "OUTBOX_SWEEP_SECONDS": _int("OUTBOX_SWEEP_SECONDS", 15),
        # Routing rules, queues, keywords and policy versions kept per process (0: off)
        "CONFIG_CACHE_SECONDS": _int("CONFIG_CACHE_SECONDS", 5),
        # Incidents (bulletins): public page cache, stale-update alert, subscribe limit
        "PUBLIC_CACHE_MAX_AGE": _int("PUBLIC_CACHE_MAX_AGE", 15),
        "PUBLIC_PAGE_CACHE": env("PUBLIC_PAGE_CACHE", "auto"),  # auto | local | off
        "PUBLIC_PAGE_CACHE_TTL": _int("PUBLIC_PAGE_CACHE_TTL", 300),
        "PUBLIC_PAGE_CACHE_LOCAL_TTL": _int("PUBLIC_PAGE_CACHE_LOCAL_TTL", 5),
        "INCIDENT_STALE_MINUTES": {
            key.strip(): int(value) for key, value in (
                item.split("=", 1) for item in env(
                    "INCIDENT_STALE_MINUTES", "minor=30,major=30,critical=30").split(",")
                if "=" in item)
        },
        "INCIDENT_STALE_CHECK_SECONDS": _int("INCIDENT_STALE_CHECK_SECONDS", 60),
        "INCIDENT_RESOLVED_DAYS": _int("INCIDENT_RESOLVED_DAYS", 30),
        "INCIDENT_HOME_RESOLVED_LIMIT": _int("INCIDENT_HOME_RESOLVED_LIMIT", 20),
        "INCIDENT_FEED_ENTRIES": _int("INCIDENT_FEED_ENTRIES", 50),
        "RATELIMIT_INCIDENT_SUBSCRIBE": env("RATELIMIT_INCIDENT_SUBSCRIBE", "10 per 4 hours"),
        "PORTAL_BENCH_ROUTES": _bool(env("PORTAL_BENCH_ROUTES")),
        "PORTAL_BENCH_CONSTANT_FILE": env("PORTAL_BENCH_CONSTANT_FILE", ""),
        # Parcels: tracking formats, imports, public look-up limits
        "PARCEL_TRACKING_PATTERNS": env("PARCEL_TRACKING_PATTERNS", ""),  # REGEX=Carrier;...
        "PARCEL_TRACKING_BUILTIN": _bool(env("PARCEL_TRACKING_BUILTIN"), True),
        "PARCEL_IMPORT_FOLDER": env("PARCEL_IMPORT_FOLDER") or str(instance / "parcel_imports"),
        "PARCEL_IMPORT_MAX_MB": _int("PARCEL_IMPORT_MAX_MB", 512),
        "PARCEL_IMPORT_INLINE_BYTES": _int("PARCEL_IMPORT_INLINE_BYTES", 2_000_000),
        "PARCEL_IMPORT_STALE_MINUTES": _int("PARCEL_IMPORT_STALE_MINUTES", 30),
        "PARCEL_IMPORT_RESUME_SECONDS": _int("PARCEL_IMPORT_RESUME_SECONDS", 300),
        "PARCEL_IMPORT_BULK": env("PARCEL_IMPORT_BULK", "auto"),  # auto (COPY on PG) | portable
        "PARCEL_API_MAX_ITEMS": _int("PARCEL_API_MAX_ITEMS", 10000),
        "RATELIMIT_PARCEL_LOOKUP": env("RATELIMIT_PARCEL_LOOKUP", "120 per minute"),
        "RATELIMIT_PARCEL_DETAILS": env("RATELIMIT_PARCEL_DETAILS", "20 per hour"),
        "RATELIMIT_PARCEL_SUBSCRIBE": env("RATELIMIT_PARCEL_SUBSCRIBE", "10 per 4 hours"),
        # Cases (complaints and claims): legal clock in calendar days, reopen window,
        # policy notice, signed links, evidence uploads and limits
        "CASES_COMPLAINT_DAYS": _int("CASES_COMPLAINT_DAYS", 7),
        "CASES_POSTAL_FORWARD_DAYS": _int("CASES_POSTAL_FORWARD_DAYS", 15),
        "CASES_LEGAL_CLOCK_KINDS": [k.strip() for k in env(
            "CASES_LEGAL_CLOCK_KINDS", "claim,complaint").split(",") if k.strip()],
        "CASES_REOPEN_DAYS": _int("CASES_REOPEN_DAYS", 14),
        "CASES_POLICY_NOTICE_DAYS": _int("CASES_POLICY_NOTICE_DAYS", 10),
        "CASES_LINK_DAYS": _int("CASES_LINK_DAYS", 180),
        "CASES_RATING_LINK_DAYS": _int("CASES_RATING_LINK_DAYS", 60),
        "CASES_ACCESS_MINUTES": _int("CASES_ACCESS_MINUTES", 60),
        "CASES_SERVICE_LINES": [s.strip() for s in env(
            "CASES_SERVICE_LINES", "standard,express,economy").split(",") if s.strip()],
        "CASES_MAX_AMOUNT_YUAN": _int("CASES_MAX_AMOUNT_YUAN", 1_000_000),
        "CASES_EVIDENCE_FOLDER": env("CASES_EVIDENCE_FOLDER") or str(instance / "evidence"),
        "CASES_EVIDENCE_MAX_FILES": _int("CASES_EVIDENCE_MAX_FILES", 5),
        "CASES_EVIDENCE_MAX_BYTES": _int("CASES_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024),
        "CASES_EVIDENCE_INLINE_BYTES": _int("CASES_EVIDENCE_INLINE_BYTES", 3 * 1024 * 1024),
        "CASES_MAX_REQUEST_BYTES": _int("CASES_MAX_REQUEST_BYTES", 56 * 1024 * 1024),
        "CASES_SWEEP_SECONDS": _int("CASES_SWEEP_SECONDS", 300),
        "RATELIMIT_CASE_SUBMIT": env("RATELIMIT_CASE_SUBMIT", "30 per hour"),
        "RATELIMIT_CASE_PHONE": env("RATELIMIT_CASE_PHONE", "10 per day"),
        "RATELIMIT_CASE_LOOKUP": env("RATELIMIT_CASE_LOOKUP", "60 per hour"),
        "RATELIMIT_CASE_RECOVER": env("RATELIMIT_CASE_RECOVER", "10 per hour"),
        "RATELIMIT_CASE_RECOVER_ADDRESS": env("RATELIMIT_CASE_RECOVER_ADDRESS", "3 per hour"),
        # Queues: SLA defaults (business minutes per priority), at-risk share, escalation
        # actions, approval limits per role (fen; empty = no limit), counts cap, checks
        "QUEUES_SLA_DEFAULTS": _sla_defaults(env("QUEUES_SLA_DEFAULTS",
                                                 "1=60/480,2=240/960,3=480/2400,4=960/4800")),
        "QUEUES_DEFAULT_HOURS": env("QUEUES_DEFAULT_HOURS",
                                    "Mon 09:00-18:00;Tue 09:00-18:00;Wed 09:00-18:00;"
                                    "Thu 09:00-18:00;Fri 09:00-18:00"),
        "QUEUES_AT_RISK_PERCENT": _int("QUEUES_AT_RISK_PERCENT", 80),
        "QUEUES_RISK_ACTIONS": _list(env("QUEUES_RISK_ACTIONS", "notify_lead")),
        "QUEUES_BREACH_ACTIONS": _list(env("QUEUES_BREACH_ACTIONS", "notify_lead,raise_priority")),
        "QUEUES_APPROVAL_LIMITS": _limits(env("QUEUES_APPROVAL_LIMITS",
                                              "agent=500,supervisor=5000,commander=,admin=")),
        "QUEUES_AGENT_CAPACITY": _int("QUEUES_AGENT_CAPACITY", 20),
        "QUEUES_COUNT_CAP": _int("QUEUES_COUNT_CAP", 1000),
        "QUEUES_REPEAT_MESSAGES": _int("QUEUES_REPEAT_MESSAGES", 3),
        "QUEUES_REPEAT_CASES": _int("QUEUES_REPEAT_CASES", 2),
        "QUEUES_CHECK_SECONDS": _int("QUEUES_CHECK_SECONDS", 60),
        # Hotline SMS (Twilio webhooks) and delivery at scale
        "HOTLINE_NUMBER": env("HOTLINE_NUMBER", "95000"),  # customer service phone
        "HOTLINE_SMS_NUMBER": env("HOTLINE_SMS_NUMBER", ""),  # default TWILIO_FROM_NUMBER
        "HOTLINE_REPLY_MAX_SEGMENTS": _int("HOTLINE_REPLY_MAX_SEGMENTS", 2),
        "HOTLINE_MAX_NUMBERS": _int("HOTLINE_MAX_NUMBERS", 5),
        "HOTLINE_COMPLAINT_WORDS": env("HOTLINE_COMPLAINT_WORDS", ""),  # extra, comma-separated
        "HOTLINE_SKIP_SIGNATURE": _bool(env("HOTLINE_SKIP_SIGNATURE")),  # development only
        # status callbacks that arrived before their message's outcome was written
        "HOTLINE_STATUS_SWEEP_SECONDS": _int("HOTLINE_STATUS_SWEEP_SECONDS", 30),
        "RATELIMIT_HOTLINE_NUMBER": env("RATELIMIT_HOTLINE_NUMBER", "6 per minute"),
        "RATELIMIT_HOTLINE_NUMBER_DAY": env("RATELIMIT_HOTLINE_NUMBER_DAY", "100 per day"),
        "RATELIMIT_HOTLINE_NOTICE": env("RATELIMIT_HOTLINE_NOTICE", "1 per hour"),
        "RATELIMIT_HOTLINE_CASE": env("RATELIMIT_HOTLINE_CASE", "3 per day"),
        # Messages per second per sender (Twilio throughput: long code 1, toll-free 3,
        # short code 100); 0 = no limit. Default 1 with Twilio, off for the folder adapter.
        "SMS_SEND_RATE": float(env("SMS_SEND_RATE") or (
            1 if env("SMS_BACKEND", "twilio" if env("TWILIO_ACCOUNT_SID") else "folder")
            == "twilio" else 0)),
        "SMS_SEND_BURST": float(env("SMS_SEND_BURST") or 0),  # 0 = the rate, rounded up
        "SMS_RATE_REDIS_URL": env("SMS_RATE_REDIS_URL", ""),  # default REDIS_URL
        "SMS_SEND_MAX_WAIT_SECONDS": _int("SMS_SEND_MAX_WAIT_SECONDS", 30),
        "OUTBOX_PARALLEL_TASKS": _int("OUTBOX_PARALLEL_TASKS", 4),
        "OUTBOX_RECONCILE_SKEW_SECONDS": _int("OUTBOX_RECONCILE_SKEW_SECONDS", 60),
        "OUTBOX_RECHECK_SECONDS": _int("OUTBOX_RECHECK_SECONDS", 1),  # suppressions re-read
        # Twilio outcomes written in bulk: at most this many held, for at most this long
        "OUTBOX_RECORD_EVERY": _int("OUTBOX_RECORD_EVERY", 50),
        "OUTBOX_RECORD_SECONDS": float(env("OUTBOX_RECORD_SECONDS") or 0.5),
        "TWILIO_RECONCILE_PAGE": _int("TWILIO_RECONCILE_PAGE", 50),
        # Metrics
        "METRICS_TOKEN": env("METRICS_TOKEN", ""),
        # SQLite in production only on request ("1"/"true"; "0" or "false" do not allow it)
        "ALLOW_SQLITE_IN_PRODUCTION": _bool(env("ALLOW_SQLITE_IN_PRODUCTION")),
    }


def check_production(config: dict) -> None:
    """Refuse to start in production with unsafe or incomplete settings.

    A default secret, or a notification channel whose settings are missing, would make
    sessions forgeable or make messages silently go nowhere; both stop the start.
    """
    if config["PORTAL_ENV"] != "production":
        return
    problems = []
    if config["SECRET_KEY"] in ("", DEFAULT_SECRET_KEY) or len(config["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
    channels = config["NOTIFY_CHANNELS"]
    if "email" not in channels:
        pass
    elif config["MAIL_BACKEND"] == "folder":
        problems.append("MAIL_SERVER must be set: email would only be written to a folder")
    elif config["MAIL_BACKEND"] == "smtp" and not config.get("MAIL_SERVER"):
        problems.append("MAIL_SERVER must be set for SMTP delivery")
    if "sms" not in channels:
        pass
    elif config["SMS_BACKEND"] == "folder":
        problems.append("TWILIO_* must be set: SMS would only be written to a folder")
    elif config["SMS_BACKEND"] == "twilio":
        missing = [k for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not config[k]]
        if not (config["TWILIO_FROM_NUMBER"] or config["TWILIO_MESSAGING_SERVICE_SID"]):
            missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        if missing:
            problems.append("SMS via Twilio needs " + ", ".join(missing))
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and not config.get(
        "ALLOW_SQLITE_IN_PRODUCTION"
    ):
        problems.append(
            "DATABASE_URL must point at PostgreSQL (or set ALLOW_SQLITE_IN_PRODUCTION=1)")
    if config["CELERY_BROKER_URL"].startswith("filesystem"):
        problems.append("REDIS_URL (or CELERY_BROKER_URL) must be set for background work")
    if config.get("HOTLINE_SKIP_SIGNATURE"):
        problems.append("HOTLINE_SKIP_SIGNATURE must not be set: Twilio webhooks would be "
                        "accepted from anyone")
    if problems:
        raise ConfigError("Refusing to start in production:\n- " + "\n- ".join(problems))
