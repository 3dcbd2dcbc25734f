"""CPU seconds, not wall time, of a first PostgreSQL import beside a COPY of the same file.

    .venv/bin/python bench/parcels/cpu.py [--rows 100000] [--rounds 2]

Wall times on a machine shared with other work measure the others as much as the import
(on 2 cores, the import's Python and its PostgreSQL backend compete with them). This counts
the CPU each side really used: the importing process (``time.process_time``, app start
included) plus its PostgreSQL backend (``/proc/<pid>/stat`` before and after), against a
client streaming the same file with ``COPY ... FROM STDIN (FORMAT csv)`` (what psql's
``\\copy`` does) into the bench's reference table, plus that backend. Rounds alternate.
The server must run on this machine (it reads the backend's /proc entry).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402 - the bench's generator and database helpers

TICK = os.sysconf("SC_CLK_TCK")

CHILD = r"""
import json, os, sys, time
started = time.process_time()
from sqlalchemy import text
from portal import create_app
from portal.extensions import db
from portal.parcels import services
app = create_app()
with app.app_context():
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    def backend():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    before = backend()
    batch = services.create_batch(services.find_incident(sys.argv[2]), mode="add",
                                  source="cli", file_name="bench.csv", actor_label="bench")
    services.store_file(batch, sys.argv[1])
    services.execute(batch)
    db.session.commit()
    print(json.dumps({"client": time.process_time() - started,
                      "server": backend() - before, "inserted": batch.inserted}))
"""


def backend_seconds(pid: int) -> float:
    """User + system CPU seconds of a local process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def import_cpu(rows: int, path: Path) -> dict:
    """CPU of ``flask parcels import``'s work in a fresh process and its backend."""
    url = run.fresh_database("postgresql", f"cpu_{rows}")
    ref = run.prepare(url)
    out = subprocess.run([run.PY, "-c", CHILD, str(path), ref], cwd=run.ROOT,
                         env=run.env_for(url), check=True, capture_output=True,
                         text=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    if found["inserted"] != rows:
        raise SystemExit(f"import did not load every row: {found}")
    copy = copy_cpu(url, path)
    run.psql(run.PG_ADMIN, f'DROP DATABASE IF EXISTS "bench_parcels_cpu_{rows}" WITH (FORCE)')
    return {"import_client": found["client"], "import_server": found["server"], **copy}


def copy_cpu(url: str, path: Path) -> dict:
    """CPU of streaming the file with COPY FROM STDIN into the reference table."""
    import psycopg

    run.raw_copy(url, path)  # creates copy_target (and times psql, not used here)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("TRUNCATE copy_target")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.commit()
        before, started = backend_seconds(pid), time.process_time()
        with conn.cursor() as cursor, cursor.copy(
                "COPY copy_target FROM STDIN WITH (FORMAT csv, HEADER true)") as copy, \
                open(path, "rb") as handle:
            while block := handle.read(1 << 16):
                copy.write(block)
        conn.commit()
        return {"copy_client": time.process_time() - started,
                "copy_server": backend_seconds(pid) - before}


def main() -> None:
    """Alternate import and COPY rounds; print CPU seconds and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run.WORK.mkdir(parents=True, exist_ok=True)
    path = run.generate(args.rows)
    for _ in range(args.rounds):
        found = import_cpu(args.rows, path)
        total = found["import_client"] + found["import_server"]
        copy = found["copy_client"] + found["copy_server"]
        found = {k: round(v, 2) for k, v in found.items()}
        print(json.dumps({"rows": args.rows, **found, "import_cpu": round(total, 2),
                          "copy_cpu": round(copy, 2), "ratio": round(total / copy, 2),
                          "load_1min": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
