"""Background work: a Celery app bound to the Flask app, the outbox tasks and job health.

Every task runs inside the Flask app context (the pattern from Flask's Celery guide) and is
registered on *this* app's Celery instance, so several Flask apps in one process (tests)
never run each other's tasks. The broker is ``CELERY_BROKER_URL`` (``REDIS_URL`` in
production); with nothing set it is kombu's filesystem transport under
``CELERY_DATA_FOLDER``, so the embedded mode needs no server. Results are not kept.

Beat runs ``deliver_outbox`` every ``OUTBOX_SWEEP_SECONDS`` (the safety net behind the
dispatch-after-commit) and ``recover_stuck_outbox`` every minute.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from celery import Celery, Task
from celery.signals import task_failure, task_retry
from flask import Flask

from portal.db import utcnow

log = logging.getLogger("portal.tasks")

DELIVER_OUTBOX = "portal.deliver_outbox"
RECOVER_STUCK_OUTBOX = "portal.recover_stuck_outbox"


def record_job(name: str, *, started: bool = False, succeeded: bool = False,
               error: str | None = None) -> None:
    """Record a job's start, success or failure in ``JobRun`` (own transaction)."""
    from portal.extensions import db
    from portal.models import JobRun

    session = db.session
    try:
        session.rollback()
        job = session.get(JobRun, name)
        if job is None:
            job = JobRun(name=name, runs=0, failures=0)
            session.add(job)
        now = utcnow()
        if started:
            job.runs = (job.runs or 0) + 1
            job.last_started_at = now
        if succeeded:
            job.last_succeeded_at = now
        if error is not None:
            job.failures = (job.failures or 0) + 1
            job.last_failed_at = now
            job.last_error = error[:2000]
        session.commit()
    except Exception:
        session.rollback()
        log.exception("could not record job health for %s", name)


def deliver_outbox_job(max_batches: int | None = None) -> dict[str, int]:
    """Deliver due outbox rows batch after batch until none is due or the limit is hit."""
    from flask import current_app

    from portal.notifications.delivery import deliver_due

    record_job(DELIVER_OUTBOX, started=True)
    limit = max_batches or int(current_app.config.get("OUTBOX_TASK_MAX_BATCHES", 20))
    totals: dict[str, int] = {}
    adapters: dict = {}  # one per channel for the whole task (one Twilio connection)
    for _ in range(limit):
        counts = deliver_due(adapters=adapters)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if counts.get("leased", 0) == 0:
            break
    record_job(DELIVER_OUTBOX, succeeded=True)
    return totals


def recover_stuck_job() -> int:
    """Return expired leases to pending, and queue a delivery when some came back."""
    from flask import current_app

    from portal.notifications.delivery import recover_stuck
    from portal.notifications.dispatch import enqueue_delivery

    record_job(RECOVER_STUCK_OUTBOX, started=True)
    count = recover_stuck()
    record_job(RECOVER_STUCK_OUTBOX, succeeded=True)
    if count and not current_app.config.get("CELERY_ALWAYS_EAGER"):
        enqueue_delivery(current_app)
    return count


def celery_config(app: Flask) -> dict:
    """Celery settings derived from the Flask config (creates the filesystem folders)."""
    config = app.config
    broker = config.get("CELERY_BROKER_URL") or config.get("REDIS_URL") or "filesystem://"
    settings = {
        "broker_url": broker,
        "task_ignore_result": True,
        "result_backend": config.get("CELERY_RESULT_BACKEND") or None,
        "task_always_eager": bool(config.get("CELERY_ALWAYS_EAGER")),
        "task_eager_propagates": False,  # failures reach the signal handlers
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0,
                                      "interval_step": 0.2, "interval_max": 0.5},
        "timezone": "UTC",
        "beat_schedule": {
            "deliver-outbox": {"task": DELIVER_OUTBOX,
                               "schedule": float(config.get("OUTBOX_SWEEP_SECONDS", 15))},
            "recover-stuck-outbox": {"task": RECOVER_STUCK_OUTBOX, "schedule": 60.0},
        },
    }
    data = Path(config.get("CELERY_DATA_FOLDER") or Path(app.instance_path) / "celery")
    settings["beat_schedule_filename"] = str(data / "beat-schedule")
    if broker.startswith("filesystem"):
        queue = data / "queue"
        for folder in (queue, queue / "processed", data / "control"):
            folder.mkdir(parents=True, exist_ok=True)
        settings["broker_transport_options"] = {
            "data_folder_in": str(queue), "data_folder_out": str(queue),
            "processed_folder": str(queue / "processed"), "store_processed": False,
            # Without this kombu writes its exchange table to ./control in the cwd.
            "control_folder": str(data / "control"),
            "polling_interval": 0.1,
        }
    elif broker.startswith("redis"):
        settings["broker_transport_options"] = {"socket_connect_timeout": 3,
                                                "socket_timeout": 5}
    settings.update(config.get("CELERY_EXTRA", {}))
    return settings


def init_celery(app: Flask) -> Celery:
    """Create this Flask app's Celery app, register the tasks, keep it in
    ``app.extensions["celery"]``."""

    class FlaskTask(Task):
        """Runs every task inside the Flask app context."""

        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.import_name, task_cls=FlaskTask, set_as_current=False)
    celery_app.config_from_object(celery_config(app))
    celery_app.flask_app = app

    @celery_app.task(name=DELIVER_OUTBOX, shared=False, autoretry_for=(Exception,), retry_backoff=1,
                     retry_backoff_max=60, retry_jitter=True, max_retries=5)
    def deliver_outbox() -> dict:
        """Deliver due outbox rows (runs after commits and every sweep interval)."""
        return deliver_outbox_job()

    @celery_app.task(name=RECOVER_STUCK_OUTBOX, shared=False)
    def recover_stuck_outbox() -> int:
        """Put rows stuck in sending back to pending."""
        return recover_stuck_job()

    app.extensions["celery"] = celery_app
    register_feature_tasks(celery_app)
    return celery_app


#: Feature modules whose ``register_tasks(celery_app)`` adds their tasks and beat entries.
FEATURE_TASK_MODULES = (
    "portal.incidents.tasks",
    "portal.parcels.tasks",
    "portal.cases.tasks",
    "portal.queues.tasks",
    "portal.hotline.tasks",
)


def register_task(celery_app: Celery, name: str, function, every_seconds: float | None = None,
                  **options):
    """Register ``function`` as task ``name`` on this app's Celery only (never shared
    across apps), and run it every ``every_seconds`` from beat when given."""
    task = celery_app.task(name=name, shared=False, **options)(function)
    if every_seconds:
        celery_app.conf.beat_schedule = {
            **(celery_app.conf.beat_schedule or {}),
            name: {"task": name, "schedule": float(every_seconds)},
        }
    return task


def register_feature_tasks(celery_app: Celery) -> None:
    """Call each feature's ``register_tasks``; a feature not installed is skipped."""
    for module_name in FEATURE_TASK_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not module_name.startswith(error.name):
                raise
            continue
        register = getattr(module, "register_tasks", None)
        if register is not None:
            register(celery_app)


def _flask_app_of(sender) -> Flask | None:
    return getattr(getattr(sender, "app", None), "flask_app", None)


@task_failure.connect
def _on_task_failure(sender=None, exception=None, **_kwargs):
    """Record a task that failed for good in ``JobRun``."""
    app = _flask_app_of(sender)
    if app is None:
        return
    with app.app_context():
        record_job(sender.name, error=f"{type(exception).__name__}: {exception}")


@task_retry.connect
def _on_task_retry(sender=None, reason=None, **_kwargs):
    """Record a failed run that will be retried in ``JobRun``."""
    app = _flask_app_of(sender)
    if app is None:
        return
    with app.app_context():
        record_job(sender.name, error=f"retrying: {reason}")
