"""CPU per message of delivery, beside the bare SDK loop (a diagnostic, not the benchmark).

    .venv/bin/python bench/hotline/profile_delivery.py [--messages 600] [--rounds 2]
        [--cprofile out.prof]

Runs, in this one process and against one Prism, (A) ``deliver_outbox_job()`` over
``--messages`` outbox rows of a fan-out (PostgreSQL, send rate off; the same code a Celery
worker runs, without the broker) and (B) the bare loop of ``client.messages.create`` of
``run.py``. For each it prints wall time and the CPU milliseconds per message spent by this
process (``time.process_time``), by the PostgreSQL backends of the benchmark database and
by Prism (``/proc/<pid>/stat``). CPU per message is far less noisy than msg/s on a shared
machine: on two cores the worker's, PostgreSQL's and Prism's CPU add up to the ceiling.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # the benchmark's own set-up functions

_GC = {"seconds": 0.0, "started": 0.0}


def _gc_timer(phase, _info):
    if phase == "start":
        _GC["started"] = time.process_time()
    else:
        _GC["seconds"] += time.process_time() - _GC["started"]


def measure(label, app, prism_pid, function, messages):
    """Run ``function``; print and return wall, own, PostgreSQL and Prism CPU per message."""
    import gc

    if _gc_timer not in gc.callbacks:
        gc.callbacks.append(_gc_timer)
    before_pg, before_prism = run.backend_cpu(run.url_of(app)), run.tree_cpu(prism_pid)
    _GC["seconds"] = 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after_pg = run.backend_cpu(run.url_of(app))
    pg = run.cpu_spent(before_pg, after_pg)
    prism = run.tree_cpu(prism_pid) - before_prism
    row = {"msg_s": messages / wall, "own_ms": 1000 * cpu / messages,
           "gc_ms": 1000 * _GC["seconds"] / messages,
           "pg_ms": 1000 * pg / messages, "prism_ms": 1000 * prism / messages}
    run.log(f"{label}: {row['msg_s']:.1f} msg/s, CPU ms/msg own {row['own_ms']:.2f} "
            f"(garbage collection {row['gc_ms']:.2f}), "
            f"PostgreSQL {row['pg_ms']:.2f}, Prism {row['prism_ms']:.2f}")
    return row


def _profile_threads(path: str) -> None:
    """Profile every thread the delivery code starts too (one file per thread)."""
    import threading

    start = threading.Thread.start

    def profiled_start(thread):
        body = thread.run

        def run():
            profile = cProfile.Profile()
            profile.enable()
            try:
                body()
            finally:
                profile.disable()
                profile.dump_stats(f"{path}.{thread.name}.{threading.get_ident()}")

        thread.run = run
        start(thread)

    threading.Thread.start = profiled_start


def main() -> int:
    """Set up, run interleaved rounds, print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cprofile", help="write a cProfile of the portal rounds here")
    args = parser.parse_args()
    from conftest import run_migrations
    from twilio.rest import Client

    from portal import create_app
    from portal.extensions import db
    from portal.notifications.adapters.twilio import RewritingHttpClient
    from portal.tasks import deliver_outbox_job

    run.WORK.mkdir(parents=True, exist_ok=True)
    os.environ.update({"NO_PROXY": "127.0.0.1,localhost"})
    name, url = run.create_database()
    prism_process, prism = run.start_prism()
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler:
        _profile_threads(args.cprofile)
    try:
        app = create_app(run.bench_config(url, **{
            **run.twilio_env(prism), "SMS_SEND_RATE": 0, "OUTBOX_BATCH_SIZE": 100,
            "OUTBOX_DISPATCH": "none"}))
        run_migrations(app)
        client = Client(run.ACCOUNT_SID, "bench-token", http_client=RewritingHttpClient(prism))

        def fan_out(round_no):
            with app.app_context():
                db.session.execute(db.text(
                    "TRUNCATE outbox_message, delivery_attempt, sms_status_event"))
                db.session.execute(db.text("DELETE FROM subscription"))
                db.session.commit()
            run.seed(app, args.messages)
            run.time_fanout(app, 1000 + round_no)

        def portal():
            if profiler:
                profiler.enable()
            with app.app_context():
                totals = deliver_outbox_job(max_batches=10_000)
            if profiler:
                profiler.disable()
            assert totals.get("sent") == args.messages, totals

        def bare():
            for i in range(args.messages):
                client.messages.create(
                    to=f"+86139{i:08d}", from_="+15005550006",
                    body="【速递】事件 IN-BNCH-2222：上海转运中心停运。回TD退订",
                    status_callback="http://portal.test/hotline/sms/status")

        fan_out(99)
        portal()  # warm-up
        bare()
        rows = {"portal": [], "bare": []}
        for round_no in range(args.rounds):
            for which in (("portal", "bare") if round_no % 2 == 0 else ("bare", "portal")):
                if which == "portal":
                    fan_out(round_no)
                    rows["portal"].append(measure("portal", app, prism_process.pid, portal,
                                                  args.messages))
                else:
                    rows["bare"].append(measure("bare  ", app, prism_process.pid, bare,
                                                args.messages))
        for which, samples in rows.items():
            medians = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
            print(f"{which}: " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()))
        if profiler:
            profiler.dump_stats(args.cprofile)
        with app.app_context():
            db.engine.dispose()
    finally:
        prism_process.terminate()
        prism_process.wait(10)
        run.drop_database(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
