"""Parcels benchmark: first import of 10^4/10^5/10^6-row CSV files on PostgreSQL and
SQLite beside psql ``\\copy`` of the same file, and look-up latency with wrk.

    .venv/bin/python bench/parcels/run.py [--sizes 10000,100000,1000000] [--duration 10]

Each import runs as ``flask parcels import`` in a child process under ``/usr/bin/time -v``
(wall time, peak RSS); ``\\copy`` loads the same file into a table with the same indexes
(unique + plain index on the tracking number) in the same run. The look-up runs gunicorn
gthread (2 workers x 4 threads, rate limits and the page cache off, so every request
reads the database) and ``wrk -t2 -c8`` asking for random loaded numbers; any non-200
fails the run. Writes ``bench/parcels/results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "bench" / "_work" / "parcels"
PY = str(ROOT / ".venv" / "bin" / "python")
FLASK = str(ROOT / ".venv" / "bin" / "flask")
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
HEADER = "运单号,状态,新预计送达日期,收件人电话,寄件人电话,最后位置,最后扫描时间,目的城市\n"


def generate(rows: int) -> Path:
    """A CSV file of ``rows`` distinct valid SF numbers (made once, kept under _work)."""
    path = WORK / f"parcels-{rows}.csv"
    if path.exists():
        return path
    rng = random.Random(rows)
    situations = ["延误", "滞留", "改道", "破损", "丢失"]
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(rows):
            out.write(f"SF{n * 7919 % 10**13:013d},{situations[n % 5]},2026-03-{n % 28 + 1:02d},"
                      f"138{rng.randrange(10**8):08d},139{rng.randrange(10**8):08d},"
                      f"hub {n % 97},2026-03-01 08:{n % 60:02d},city {n % 301}\n")
    return path


def env_for(url: str, **extra) -> dict:
    env = dict(os.environ, FLASK_APP="wsgi.py", DATABASE_URL=url, RATELIMIT_ENABLED="0",
               PUBLIC_PAGE_CACHE="off", SECRET_KEY="bench-" + "x" * 40, REDIS_URL="",
               CELERY_BROKER_URL="memory://", PARCEL_IMPORT_FOLDER=str(WORK / "imports"))
    env.update(extra)
    return env


def fresh_database(kind: str, tag: str) -> str:
    if kind == "sqlite":
        path = WORK / f"bench-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    name = f"bench_parcels_{tag}"
    psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(PG_ADMIN, f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def psql(url: str, command: str) -> str:
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", command],
                          check=True, capture_output=True, text=True).stdout


def prepare(url: str) -> str:
    """Migrate and declare a published incident; return its reference."""
    subprocess.run([FLASK, "db", "upgrade"], cwd=ROOT, env=env_for(url), check=True,
                   capture_output=True)
    code = (
        "from portal import create_app\nfrom portal.extensions import db\n"
        "from portal.content import make_translated\nfrom portal.incidents import services\n"
        "from portal.staff import services as staff\napp = create_app()\n"
        "with app.app_context():\n"
        "    u = staff.create_staff('bench@example.com', 'commander', 'x' * 20)\n"
        "    i = services.declare(u, title=make_translated('基准', '', 'Bench'),"
        " summary=make_translated('基准', '', 'Bench'), type='fire', severity='major',"
        " areas=[])\n    services.publish(u, i, notify=False)\n    db.session.commit()\n"
        "    print(i.reference)\n")
    out = subprocess.run([PY, "-c", code], cwd=ROOT, env=env_for(url), check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Run under /usr/bin/time -v: (wall seconds, peak RSS MB, stdout)."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stdout}\n{result.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)[1])
    return wall, rss / 1024, result.stdout


def raw_copy(url: str, path: Path) -> tuple[float, float]:
    """psql \\copy of the same file into a table indexed on the tracking number (unique +
    plain index), as measured since the issue's first figures."""
    psql(url, "DROP TABLE IF EXISTS copy_target; CREATE TABLE copy_target ("
              "tracking_number varchar(40), situation text, expected_delivery date, "
              "recipient_phone text, sender_phone text, last_location text, "
              "last_seen_at timestamp, destination_city text); "
              "CREATE UNIQUE INDEX ON copy_target (tracking_number); "
              "CREATE INDEX ON copy_target (tracking_number)")
    wall, rss, _ = timed(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc",
                          f"\\copy copy_target FROM '{path}' WITH (FORMAT csv, HEADER true)"],
                         dict(os.environ))
    return wall, rss


def raw_copy_same_indexes(url: str, path: Path) -> float:
    """psql \\copy of the same file into a table with affected_parcel's four indexes
    (bigserial primary key, unique (incident, number), number, creating batch), the
    incident and batch given as column defaults. No foreign keys: they are constraints,
    not indexes, and stay the import's own cost."""
    psql(url, "DROP TABLE IF EXISTS copy_same; CREATE TABLE copy_same ("
              "id bigserial PRIMARY KEY, incident_id integer NOT NULL DEFAULT 1, "
              "tracking_number varchar(40), situation text, expected_delivery date, "
              "recipient_phone text, sender_phone text, last_location text, "
              "last_seen_at timestamp, destination_city text, "
              "created_batch_id integer DEFAULT 1); "
              "CREATE UNIQUE INDEX ON copy_same (incident_id, tracking_number); "
              "CREATE INDEX ON copy_same (tracking_number); "
              "CREATE INDEX ON copy_same (created_batch_id)")
    columns = ("tracking_number, situation, expected_delivery, recipient_phone, "
               "sender_phone, last_location, last_seen_at, destination_city")
    wall, _rss, _ = timed(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc",
                           f"\\copy copy_same ({columns}) FROM '{path}' "
                           "WITH (FORMAT csv, HEADER true)"], dict(os.environ))
    return wall


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LUA = """
local numbers = {}
for line in io.lines("%s") do numbers[#numbers + 1] = line end
math.randomseed(42)
local bad = 0
request = function()
  return wrk.format("GET", "/parcels?q=" .. numbers[math.random(#numbers)] .. "&lang=en")
end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, "parcel%%-affected", 1, false) then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("NON200 %%d\\n", bad))
end
"""


def lookup(url: str, sample: list[str], duration: int) -> dict:
    """wrk -c8 against gunicorn gthread: p50/p99 ms, req/s; fails on any bad answer."""
    numbers = WORK / "numbers.txt"
    numbers.write_text("\n".join(sample) + "\n")
    script = WORK / "lookup.lua"
    script.write_text(LUA % numbers)
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-k", "gthread", "-w", "2", "--threads",
         "4", "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env_for(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # workers boot slowly on a loaded machine
        while True:
            try:
                with urllib.request.urlopen(f"{base}/parcels?q={sample[0]}", timeout=30) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        subprocess.run(["wrk", "-t2", "-c8", "-d3s", "-s", str(script), base],
                       capture_output=True, text=True, check=True)  # warm-up
        out = subprocess.run(["wrk", "-t2", "-c8", f"-d{duration}s", "--timeout", "10s",
                              "--latency", "-s",
                              str(script), base], capture_output=True, text=True,
                             check=True).stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    bad = int(re.search(r"NON200 (\d+)", out)[1])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    errors = errors and any(int(n) for n in errors.groups())
    requests = int(re.search(r"(\d+) requests in", out)[1])
    if bad or errors or "Non-2xx" in out or requests == 0:
        raise SystemExit(f"look-up run had bad answers:\n{out}")

    def ms(label):
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"p50_ms": ms("50"), "p99_ms": ms("99"),
            "req_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}


def settle(url: str) -> None:
    """VACUUM (ANALYZE) the freshly loaded table, as a table in use would be: otherwise
    autovacuum starts on the new rows, and the first reads set their hint bits, during
    the timed look-ups (both depend on how many rows were just written, not on the size)."""
    psql(url, "VACUUM (ANALYZE) affected_parcel")


def lookup_only(sizes: list[int], duration: int) -> None:
    """Look-up latency at each size, parcels inserted set-based (no import timing)."""
    WORK.mkdir(parents=True, exist_ok=True)
    found = []
    for rows in sizes:
        url = fresh_database("postgresql", f"lookup_{rows}")
        ref = prepare(url)
        sql = ("INSERT INTO affected_parcel (incident_id, tracking_number, carrier, "  # noqa: S608 - bench-made values
                  "situation, expected_delivery, active, created_at, updated_at) "
                  "SELECT i.id, 'SF' || "
                  "lpad(((n::bigint * 7919) % 10000000000000)::text, 13, '0'), "
                  "'SF Express', 'delayed', date '2026-03-05', true, now(), now() "
                  f"FROM incident i, generate_series(0, {rows - 1}) n "
                  f"WHERE i.reference = '{ref}'")
        psql(url, sql)
        settle(url)
        rng = random.Random(1)
        sample = [f"SF{n * 7919 % 10**13:013d}" for n in (rng.randrange(rows)
                                                          for _ in range(2000))]
        entry = {"db": "postgresql", "parcels": rows, **lookup(url, sample, duration)}
        found.append(entry)
        print(json.dumps(entry), flush=True)
        psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "bench_parcels_lookup_{rows}" WITH (FORCE)')
    (HERE / "results-lookup.json").write_text(json.dumps(found, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--lookup-sizes", default="")
    parser.add_argument("--no-lookup", action="store_true",
                        help="time the imports (and \\copy) only, no wrk look-up runs")
    parser.add_argument("--lookup-only", action="store_true",
                        help="fill PostgreSQL with SQL (generate_series) and run only wrk")
    args = parser.parse_args()
    if args.lookup_only:
        return lookup_only([int(s) for s in args.sizes.split(",")], args.duration)
    sizes = [int(s) for s in args.sizes.split(",")]
    lookup_sizes = [] if args.no_lookup else [
        int(s) for s in (args.lookup_sizes or f"{sizes[0]},{sizes[-1]}").split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    results = {"date": date.today().isoformat(), "machine": os.uname().machine,
               "cpus": os.cpu_count(), "imports": [], "lookups": []}
    for rows in sizes:
        path = generate(rows)
        for kind in args.databases.split(","):
            url = fresh_database(kind, f"{kind}_{rows}")
            ref = prepare(url)
            wall, rss, out = timed([FLASK, "parcels", "import", str(path), "--incident", ref],
                                   env_for(url))
            if f"{rows} new" not in out:
                raise SystemExit(f"import did not load every row:\n{out}")
            # The command's own time (file stored, rows read, cleaned, loaded, committed):
            # the process's wall time minus starting Python and the app (~3 s).
            own = float(re.search(r"in ([0-9.]+) s", out).group(1))
            entry = {"db": kind, "rows": rows, "seconds": round(wall, 2),
                     "import_own_seconds": own,
                     "rows_s": round(rows / wall), "peak_mb": round(rss, 1),
                     "load_1min": round(os.getloadavg()[0], 2)}
            if kind == "postgresql":
                copy_wall, copy_rss = raw_copy(url, path)
                same = raw_copy_same_indexes(url, path)
                entry.update(copy_seconds=round(copy_wall, 2), copy_peak_mb=round(copy_rss, 1),
                             ratio=round(wall / copy_wall, 2),
                             copy_same_indexes_seconds=round(same, 2),
                             ratio_same_indexes=round(wall / same, 2),
                             own_ratio_same_indexes=round(own / same, 2))
            results["imports"].append(entry)
            print(json.dumps(entry), flush=True)
            if kind == "postgresql" and rows in lookup_sizes:
                settle(url)
                rng = random.Random(1)
                sample = [f"SF{n * 7919 % 10**13:013d}"
                          for n in (rng.randrange(rows) for _ in range(2000))]
                entry = {"db": kind, "parcels": rows, **lookup(url, sample, args.duration)}
                results["lookups"].append(entry)
                print(json.dumps(entry), flush=True)
            if kind == "postgresql":
                psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "bench_parcels_{kind}_{rows}" '
                               "WITH (FORCE)")
    (HERE / "results.json").write_text(json.dumps(results, indent=2))
    lines = ["| db | rows | import s (process) | import s (own) | rows/s | peak MB | "
             "\\copy s | ratio | \\copy s, 4 indexes | ratio | own / 4 indexes | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in results["imports"]:
        lines.append(f"| {e['db']} | {e['rows']:,} | {e['seconds']} | "
                     f"{e.get('import_own_seconds', '')} | {e['rows_s']:,} | "
                     f"{e['peak_mb']} | {e.get('copy_seconds', '')} | {e.get('ratio', '')} | "
                     f"{e.get('copy_same_indexes_seconds', '')} | "
                     f"{e.get('ratio_same_indexes', '')} | "
                     f"{e.get('own_ratio_same_indexes', '')} | {e['load_1min']} |")
    lines += ["", "| look-up (PostgreSQL) | p50 ms | p99 ms | req/s |", "|---|---|---|---|"]
    for e in results["lookups"]:
        lines.append(f"| {e['parcels']:,} parcels | {e['p50_ms']} | {e['p99_ms']} | "
                     f"{e['req_s']} |")
    table = "\n".join(lines)
    (HERE / "results.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    sys.exit(main())
