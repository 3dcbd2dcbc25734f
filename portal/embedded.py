"""Run the portal on its embedded default: web server plus a background worker.

``python -m portal.embedded`` (what ``make run`` calls) starts a Celery worker with an
embedded beat on the filesystem broker as a child process, then serves the app with
Werkzeug's threaded server. Both stop together. No database or broker server is needed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path


def start_worker(instance: Path) -> subprocess.Popen:
    """Start the Celery worker (with beat) for the embedded mode as a child process."""
    schedule = instance / "celery" / "beat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "-A", "portal.worker", "worker", "-B",
        "-s", str(schedule), "--loglevel=WARNING", "--concurrency=1", "--pool=solo",
    ]
    return subprocess.Popen(command, env=os.environ.copy())  # noqa: S603 - fixed argv


def main() -> None:
    """Parse ``--host``/``--port``, start the worker, serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()

    from werkzeug.serving import run_simple

    from portal import create_app

    app = create_app()
    worker = start_worker(Path(app.instance_path))
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    main()
