#!/usr/bin/env python3
"""The stack's floor beside the portal and django-helpdesk, on the claim benchmark.

    .venv/bin/python bench/cases/floor.py [--claims 1000] [--rounds 2]

Per round, interleaved, SQLite, 1 client, the same load as ``run.py`` (GET the form, POST
it multipart, a new visitor per claim) and the same server (gunicorn gthread 2 x 4):

- ``floor_app.py`` with the form rendered on the GET (a plain Flask-WTF view),
- ``floor_app.py`` with a static GET (the two tokens only),
- the portal without a photo,
- django-helpdesk's public ticket form.

It answers one question: how much of the portal's CPU per claim is the stack itself
(Flask, Flask-WTF, the session, SQLAlchemy, gunicorn), which no change to the portal's
own code can remove. Writes ``floor-results.json`` beside this file and prints a table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (the claim benchmark's server, load and accounting)


def run_floor(static_get: bool, claims: int, run_dir: Path) -> dict:
    """gunicorn serving ``floor_app`` on an empty SQLite file, loaded as the portal is."""
    run_dir.mkdir(parents=True, exist_ok=True)
    database = run_dir / "floor.db"
    env = dict(os.environ, FLOOR_DATABASE_URL=f"sqlite:///{database}",
               FLOOR_GET="static" if static_get else "render")
    subprocess.run([str(bench.ROOT / ".venv" / "bin" / "python"), "-c",
                    "import floor_app; floor_app.metadata.create_all(floor_app.engine)"],
                   cwd=HERE, env=env, check=True)
    port = bench.free_port()
    with open(run_dir / "gunicorn.log", "ab") as log:
        proc = subprocess.Popen(
            [str(bench.ROOT / ".venv" / "bin" / "gunicorn"), "floor_app:app", "-k", "gthread",
             "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}", "--timeout", "60",
             "--keep-alive", "5", "--log-level", "warning"],
            cwd=HERE, env=env, stdout=log, stderr=log)
        try:
            for _ in range(300):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/claims/new")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            result = bench.Load(port, 1, claims, False).run(proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)
    import sqlite3

    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT count(*) FROM customer_case").fetchone()[0]
    result["verified"] = rows == result["ok"] + result["warmups"]
    return result


def run_one(label: str, round_no: int, claims: int, stamp: str) -> dict:
    """One run of one of the four apps."""
    base = bench.STATE / f"floor-{stamp}"
    if label.startswith("floor"):
        static = label == "floor, static GET"
        return run_floor(static, claims, base / f"r{round_no}-{'static' if static else 'render'}")
    if label == "portal":
        return bench.run_portal("sqlite", 1, claims, False, f"floor-{stamp}", round_no)
    return bench.run_helpdesk("sqlite", 1, claims, f"floor-{stamp}", round_no)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-helpdesk", action="store_true")
    args = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: dict[str, list[dict]] = {}
    for round_no in range(1, args.rounds + 1):
        labels = ["floor, form rendered on GET", "floor, static GET", "portal"]
        labels += [] if args.no_helpdesk else ["django-helpdesk"]
        for label in labels:
            result = run_one(label, round_no, args.claims, stamp)
            runs.setdefault(label, []).append(result)
            print(f"round {round_no} {label}: {result['claims_per_s']}/s, "
                  f"{result['server_cpu_ms_per_claim']} ms CPU/claim, failed {result['failed']}, "
                  f"verified {result['verified']}", flush=True)
    lines = ["| app (SQLite, 1 client) | claims/s (median) | server CPU ms/claim (median) |",
             "|---|---|---|"]
    for label, items in runs.items():
        lines.append(f"| {label} | {statistics.median(r['claims_per_s'] for r in items):.1f} | "
                     f"{statistics.median(r['server_cpu_ms_per_claim'] for r in items):.2f} |")
    report = "\n".join(lines)
    (HERE / "floor-results.json").write_text(json.dumps(
        {"stamp": stamp, "claims_per_run": args.claims, "runs": runs}, indent=1))
    print(report)
    bad = [r for items in runs.values() for r in items if r["failed"] or not r["verified"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
