#!/usr/bin/env python3
"""Claim submission through the real form, beside django-helpdesk's public ticket form.

One command (from the project root)::

    .venv/bin/python bench/cases/run.py [--claims 300] [--rounds 2] [--dbs sqlite,postgresql]

For each database kind and round it runs, interleaved: the portal without a photo, the
portal with a 200 KB JPEG, and django-helpdesk (../shared/anchors/django-helpdesk), each
from 1 and from 4 concurrent clients. Both apps are served by gunicorn gthread 2 workers x 4
threads on loopback, with an empty database per run. Each submission is a new visitor:
GET the form (CSRF token and cookie), POST it (multipart, as a browser does), a distinct
tracking number and phone per claim. Success is only the form's success answer (303 to
``/claims/<ref>/received``); any other answer fails the run, and the number of cases in
the database must equal the successes afterwards. Server CPU per claim comes from /proc
(gunicorn master and workers). Rate limits are off for the bench (RATELIMIT_ENABLED=0);
notifications are written to the outbox as in production but not delivered (delivery
is the worker's job), as helpdesk's mail goes to a dummy backend.

Writes bench/cases/results-<stamp>.json and results.md, and prints the table.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The tree gunicorn serves (default: this checkout); BENCH_APP_ROOT serves another copy,
# e.g. a clean export of the last commit while colleagues have work in progress here.
APP_ROOT = Path(os.environ.get("BENCH_APP_ROOT", ROOT)).resolve()
HERE = Path(__file__).resolve().parent
ANCHOR = (ROOT.parent / "shared" / "anchors" / "django-helpdesk").resolve()
HELPDESK_VENV = Path(os.environ.get("HELPDESK_VENV", "/tmp/helpdesk-anchor/venv"))
STATE = Path("/tmp/bench-cases")
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TICKS = os.sysconf("SC_CLK_TCK")


# --- /proc accounting -------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, float] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS  # ppid, utime+stime


def tree_cpu(master: int) -> float:
    """CPU seconds of a process and its direct children (gunicorn master + workers)."""
    total = (_stat(master) or (0, 0.0))[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info and info[0] == master:
                total += info[1]
    return total


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- the portal's server ----------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(kind: str, run_dir: Path) -> tuple[str, callable]:
    """A new empty database URL and a function that drops it."""
    if kind == "sqlite":
        path = run_dir / "portal.db"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
    name = "bench_cases_" + secrets.token_hex(4)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return make_url(admin).set(database=name).render_as_string(hide_password=False), drop


def portal_env(database_url: str, run_dir: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url, "SECRET_KEY": "bench-" + "x" * 40,
        "RATELIMIT_ENABLED": "0", "OUTBOX_DISPATCH": "none", "PORTAL_ENV": "development",
        "CASES_EVIDENCE_FOLDER": str(run_dir / "evidence"), "OUTBOX_FOLDER": str(run_dir / "out"),
        "CELERY_BROKER_URL": "memory://", "PUBLIC_BASE_URL": "http://127.0.0.1",
        "REDIS_URL": "", "LOG_LEVEL": "WARNING",
    })
    return env


class Server:
    """gunicorn gthread 2x4 serving the portal."""

    def __init__(self, env: dict, run_dir: Path):
        self.port = free_port()
        self.log = open(run_dir / "gunicorn.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "wsgi:app", "-k", "gthread", "-w", "2",
             "--threads", "4", "-b", f"127.0.0.1:{self.port}", "--timeout", "60",
             "--keep-alive", "5", "--log-level", "warning"],
            cwd=APP_ROOT, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/claims/new?lang=en")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


# --- the load client --------------------------------------------------------------------

PHOTO = None


def photo_bytes() -> bytes:
    """A 200 KB JPEG (noise, so the encoder cannot shrink it)."""
    global PHOTO
    if PHOTO is None:
        from PIL import Image

        rng = random.Random(7)
        side = 300
        while True:
            image = Image.frombytes("RGB", (side, side), bytes(
                rng.getrandbits(8) for _ in range(side * side * 3)))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=90)
            if out.tell() >= 200 * 1024:
                PHOTO = out.getvalue()
                break
            side += 20
    return PHOTO


def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = "----bench" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  .encode())
        out.write(str(value).encode() + b"\r\n")
    for name, filename, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode())
        out.write(data + b"\r\n")
    if not files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; '
                  f'filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n'.encode())
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOKEN = re.compile(r'name="submission_token" type="hidden" value="([^"]+)"')


class Load:
    """N client threads, each submitting claims as new visitors on a kept-alive connection."""

    def __init__(self, port: int, clients: int, claims: int, with_photo: bool):
        self.port, self.clients, self.claims, self.with_photo = port, clients, claims, with_photo
        self.lock = threading.Lock()
        self.remaining = claims
        self.get_ms, self.post_ms, self.total_ms = [], [], []
        self.ok, self.failures, self.warmups = 0, [], 0

    def _take(self) -> bool:
        with self.lock:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True

    def _one(self, conn, serial: int) -> tuple[float, float, str | None]:
        t0 = time.perf_counter()
        conn.request("GET", "/claims/new?lang=en")
        response = conn.getresponse()
        page = response.read().decode()
        t1 = time.perf_counter()
        if response.status != 200:
            return 0, 0, f"GET {response.status}"
        cookie = SimpleCookie(response.headers.get("Set-Cookie", ""))
        jar = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
        fields = {
            "csrf_token": _CSRF.search(page).group(1),
            "submission_token": _TOKEN.search(page).group(1),
            "type": "delay", "kind": "", "tracking_number": f"SF{serial:013d}",
            "customer_name": "压测 客户", "phone_region": "CN",
            "phone": f"139{serial % 100_000_000:08d}", "email": f"c{serial}@bench.example",
            "description": "包裹延误五天，物流信息一直没有更新，请尽快处理并按规定赔偿运费。" * 2,
            "service_line": "", "freight": "23.50", "claimed": "", "declared_value": "",
            "damaged_percent": "", "preferred_channel": "sms", "language": "zh_Hans",
            "consent": "y", "action": "submit",
        }
        files = [("evidence", "photo.jpg", photo_bytes())] if self.with_photo else []
        body, content_type = multipart(fields, files)
        conn.request("POST", "/claims/new?lang=en", body=body,
                     headers={"Content-Type": content_type, "Cookie": jar})
        response = conn.getresponse()
        response.read()
        t2 = time.perf_counter()
        location = response.headers.get("Location", "")
        if response.status != 303 or not re.search(r"/claims/CS-[A-Z0-9-]+/received", location):
            return 0, 0, f"POST {response.status} {location[:60]}"
        return (t1 - t0) * 1000, (t2 - t1) * 1000, None

    def _client(self, index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        serial = 10**12 + index * 10**7
        count = 0
        _g, _p, error = self._one(conn, serial)  # warm-up, untimed
        with self.lock:
            self.warmups += 1 if error is None else 0
            if error:
                self.failures.append(error)
        self.barrier.wait()
        while self._take():
            count += 1
            try:
                get_ms, post_ms, error = self._one(conn, serial + count)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                error, get_ms, post_ms = f"{type(exc).__name__}", 0, 0
            with self.lock:
                if error:
                    self.failures.append(error)
                else:
                    self.ok += 1
                    self.get_ms.append(get_ms)
                    self.post_ms.append(post_ms)
                    self.total_ms.append(get_ms + post_ms)
        conn.close()

    def run(self, master_pid: int) -> dict:
        threads = [threading.Thread(target=self._client, args=(i,)) for i in range(self.clients)]
        self.barrier = threading.Barrier(self.clients + 1)
        for thread in threads:
            thread.start()
        self.barrier.wait()  # every client has sent its untimed warm-up claim
        cpu0, t0 = tree_cpu(master_pid), time.perf_counter()
        for thread in threads:
            thread.join()
        wall, cpu1 = time.perf_counter() - t0, tree_cpu(master_pid)
        submissions = self.ok
        return {
            "ok": self.ok, "warmups": self.warmups, "failures": self.failures[:20],
            "failed": len(self.failures), "wall_s": round(wall, 2),
            "claims_per_s": round(self.ok / wall, 2) if wall else 0,
            "get_plus_post_ms": {k: round(pct(self.total_ms, p), 1)
                                 for k, p in (("p50", 50), ("p95", 95), ("p99", 99))},
            "get_ms_p50": round(pct(self.get_ms, 50), 1),
            "post_ms_p50": round(pct(self.post_ms, 50), 1),
            "server_cpu_s": round(cpu1 - cpu0, 2),
            "server_cpu_ms_per_claim": round((cpu1 - cpu0) * 1000 / submissions, 1)
            if submissions else None,
        }


def count_cases(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM customer_case")).scalar_one()
    engine.dispose()
    return count


def run_portal(kind: str, clients: int, claims: int, with_photo: bool, stamp: str,
               round_no: int = 1) -> dict:
    run_dir = (STATE / stamp /
               f"r{round_no}-portal-{kind}-c{clients}-{'photo' if with_photo else 'nophoto'}")
    run_dir.mkdir(parents=True, exist_ok=True)
    url, drop = fresh_database(kind, run_dir)
    env = portal_env(url, run_dir)
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "db", "upgrade"], cwd=APP_ROOT,
                   env={**env, "FLASK_APP": "wsgi.py"}, check=True, capture_output=True)
    server = Server(env, run_dir)
    try:
        result = Load(server.port, clients, claims, with_photo).run(server.proc.pid)
    finally:
        server.stop()
    result["cases_in_db"] = count_cases(url)
    result["verified"] = result["cases_in_db"] == result["ok"] + result["warmups"]
    drop()
    return result


# --- django-helpdesk --------------------------------------------------------------------

def run_helpdesk(kind: str, clients: int, claims: int, stamp: str, round_no: int = 1) -> dict:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    # Our own state folder, database and port: other sessions may run the same harness
    # (its default /tmp/helpdesk-anchor, port 8765, database helpdesk_anchor) at the same
    # time. Only the venv is shared.
    env["HELPDESK_STATE"] = str(STATE / "helpdesk-state")
    env["HELPDESK_DB"] = (PG_ADMIN.rsplit("/", 1)[0] + "/helpdesk_anchor_cases"
                          if kind == "postgresql" else str(STATE / "helpdesk-state" / "hd.sqlite3"))
    env["HELPDESK_RESET"] = "1"
    env["PORT"] = str(free_port())
    out = STATE / stamp / f"r{round_no}-helpdesk-{kind}-c{clients}.json"
    python = HELPDESK_VENV / "bin" / "python"
    needs_driver = kind == "postgresql" and python.exists() and subprocess.run(
        [str(python), "-c", "import psycopg"], capture_output=True).returncode != 0
    if not python.exists() or needs_driver:
        # First time (or a venv set up for SQLite only): the harness's own setup (venv,
        # pip with the PostgreSQL driver for a postgresql:// database, migrate, seed).
        subprocess.run([str(ANCHOR / "setup.sh"), str(HELPDESK_VENV)], env=env, check=True,
                       capture_output=True)
    else:  # empty database, as setup.sh does, without re-running pip every time
        env.update({"DJANGO_SETTINGS_MODULE": "anchorsite.settings",
                    "PYTHONPATH": str(ANCHOR)})
        Path(env["HELPDESK_STATE"]).mkdir(parents=True, exist_ok=True)
        manage = [str(python), str(ANCHOR / "manage.py")]
        for step in (["anchor_db", "--reset"], ["anchor_db"], ["migrate", "--noinput", "-v", "0"],
                     ["anchor_seed"]):
            subprocess.run(manage + step, env=env, check=True, capture_output=True)
    subprocess.run([str(ANCHOR / "serve.sh"), str(HELPDESK_VENV)], env=env, check=True,
                   capture_output=True)
    try:
        subprocess.run([str(python), str(ANCHOR / "bench.py"), "--clients", str(clients),
                        "--tickets", str(claims), "--out", str(out), "--staff-samples", "5",
                        "--base", f"http://127.0.0.1:{env['PORT']}"],
                       env=env, check=True, capture_output=True)
    finally:
        subprocess.run([str(ANCHOR / "stop.sh")], env=env, capture_output=True)
    data = json.loads(out.read_text())
    sub = data["submit"]
    return {"ok": sub["ok"], "failed": sub["failed"], "wall_s": sub["wall_s"],
            "claims_per_s": sub["tickets_per_s"],
            "get_plus_post_ms": {k: sub["get_plus_post_ms"][k] for k in ("p50", "p95", "p99")},
            "server_cpu_ms_per_claim": sub["server_cpu_ms_per_ticket"],
            "verified": bool(data["verify"].get("ok")), "raw": str(out)}


# --- the matrix -------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", type=int, default=300, help="timed submissions per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dbs", default="sqlite,postgresql")
    ap.add_argument("--clients", default="1,4")
    ap.add_argument("--no-helpdesk", action="store_true")
    args = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for round_no in range(1, args.rounds + 1):
        for kind in args.dbs.split(","):
            for clients in (int(c) for c in args.clients.split(",")):
                plan = [("portal", False), ("helpdesk", False), ("portal", True)]
                for app, photo in plan:
                    if app == "helpdesk" and args.no_helpdesk:
                        continue
                    label = f"round {round_no} {kind} c{clients} {app}{' photo' if photo else ''}"
                    print(f"== {label}", flush=True)
                    if app == "portal":
                        result = run_portal(kind, clients, args.claims, photo, stamp, round_no)
                    else:
                        result = run_helpdesk(kind, clients, args.claims, stamp, round_no)
                    result.update(app=app, db=kind, clients=clients, photo=photo, round=round_no)
                    runs.append(result)
                    HERE.joinpath(f"results-{stamp}.json").write_text(json.dumps(
                        {"stamp": stamp, "partial": True, "runs": runs}, indent=1))
                    print(f"   {result['claims_per_s']} /s  p50 {result['get_plus_post_ms']['p50']}"
                          f" ms  CPU {result['server_cpu_ms_per_claim']} ms/claim  "
                          f"failed {result['failed']}  verified {result['verified']}", flush=True)
    report = summarise(runs)
    HERE.joinpath(f"results-{stamp}.json").write_text(json.dumps(
        {"stamp": stamp, "claims_per_run": args.claims, "rounds": args.rounds,
         "nproc": os.cpu_count(), "runs": runs}, indent=1, ensure_ascii=False))
    HERE.joinpath("results.md").write_text(report)
    print(report)
    bad = [r for r in runs if r["failed"] or not r["verified"]]
    if bad:
        print(f"FAILED: {len(bad)} run(s) had errors or a count mismatch", file=sys.stderr)
        return 1
    return 0


def summarise(runs: list[dict]) -> str:
    """Median over rounds per (db, clients, app, photo), plus the like-for-like ratios."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["db"], run["clients"], run["app"], run["photo"]), []).append(run)
    lines = ["| db | clients | app | claims/s (rounds) | median claims/s | p50 / p95 / p99 ms "
             "| server CPU ms/claim |", "|---|---|---|---|---|---|---|"]
    med = {}
    for (db, clients, app, photo), items in sorted(groups.items()):
        rate = statistics.median(r["claims_per_s"] for r in items)
        cpu = statistics.median(r["server_cpu_ms_per_claim"] or 0 for r in items)
        lat = {k: statistics.median(r["get_plus_post_ms"][k] for r in items)
               for k in ("p50", "p95", "p99")}
        med[(db, clients, app, photo)] = (rate, cpu)
        name = ("portal, 200 KB JPEG" if photo else "portal") if app == "portal" else \
            "django-helpdesk"
        lines.append(f"| {db} | {clients} | {name} | "
                     f"{' / '.join(str(r['claims_per_s']) for r in items)} | {rate:.1f} | "
                     f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} | {cpu:.1f} |")
    lines += ["", "| db | clients | portal / helpdesk claims/s (target >= 3x from 1 client) "
              "| portal / helpdesk CPU per claim (target <= 1/3) |", "|---|---|---|---|"]
    for (db, clients, app, photo), (rate, cpu) in sorted(med.items()):
        anchor = med.get((db, clients, "helpdesk", False))
        if app != "portal" or photo or not anchor:
            continue
        lines.append(f"| {db} | {clients} | {rate / anchor[0]:.2f}x | "
                     f"{cpu / anchor[1]:.2f} |" if anchor[0] and anchor[1] else "")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
