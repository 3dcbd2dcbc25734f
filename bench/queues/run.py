"""Benchmark the agent workspace at 1,000 and 100,000 open cases: one command, a results
file, a printed table.

    .venv/bin/python bench/queues/run.py [--sizes 1000,100000] [--duration 10] [--rounds 2]
        [--connections 16] [--no-anchor]

For each size: a fresh PostgreSQL database (``--admin-url``, default ``TEST_DATABASE_URL``
or ``postgresql://postgres@127.0.0.1:5432/postgres``), migrations, then a set-based seed
(COPY; ``seed.py``): queue ``bench`` with SIZE open cases and queue ``pool`` with
``--pool`` cases for take-next (large enough not to empty; reset after each take-next
run). Each size gets its own gunicorn (gthread 2x4, like the django-helpdesk anchor);
an agent signs in through the real form and wrk sends its session cookie. Measured with
``wrk -t2 -c16 --latency`` in interleaved rounds (sizes alternate):

- queue page ``/staff/queues/bench`` (25 rows, filters none, capped count),
- case page ``/staff/cases/<ref>`` (500 random references),
- search ``/staff/search?q=<tracking number>`` (500 random numbers),
- take next ``POST /staff/queues/pool/next`` (303 to the case taken).

Any response with an unexpected status, a socket error or a take-next that assigned
nothing fails the run. Then, like the anchor measures its staff queue (one signed-in
client, 50 sequential samples after 2 warm-ups), the 25-row queue page at 1,000 cases is
timed sequentially; django-helpdesk 2.6.1 (``../shared/anchors/django-helpdesk``, same
PostgreSQL server, 1,000 tickets submitted by its own bench) is measured in the same run.

Targets: p99 at 100,000 <= 1.5x p99 at 1,000 (each endpoint); queue page p50 at 1,000 at
least 3x faster than django-helpdesk's 25-row queue JSON p50.
Writes ``bench/queues/results.json`` and ``bench/queues/results.md``.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "bench" / "_work" / "queues"
PYTHON = ROOT / ".venv" / "bin" / "python"
ANCHOR = ROOT.parent / "shared" / "anchors" / "django-helpdesk"
ANCHOR_VENV = Path("/tmp/helpdesk-anchor/venv")
sys.path.insert(0, str(HERE))
from seed import PASSWORD  # noqa: E402


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(admin_url: str, sql: str) -> None:
    """Run SQL on the admin database."""
    subprocess.run(["psql", "-q", admin_url, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def db_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the admin URL's server."""
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def app_env(database_url: str) -> dict:
    """Environment of the app under test."""
    return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": secrets.token_hex(32),
            "OUTBOX_DISPATCH": "none", "FLASK_APP": "wsgi.py", "CELERY_BROKER_URL": "memory://",
            "REDIS_URL": "", "PYTHONPATH": str(ROOT), "RATELIMIT_ENABLED": "0",
            "SESSION_COOKIE_SECURE": "0"}


def prepare(admin_url: str, size: int, pool: int) -> tuple[str, Path]:
    """Fresh database, migrations, seed; returns its URL and the path-file folder."""
    name = f"bench_queues_{size}"
    psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(admin_url, f'CREATE DATABASE "{name}"')
    url = db_url(admin_url, name)
    env = app_env(url)
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    out = WORK / str(size)
    started = time.monotonic()
    subprocess.run([str(PYTHON), str(HERE / "seed.py"), str(size), str(pool), str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    print(f"seeded {size:,} + pool {pool:,} in {time.monotonic() - started:.1f} s", flush=True)
    return url, out


def wait_for(url: str, timeout: float = 90.0) -> None:
    """Wait until ``url`` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def start_gunicorn(database_url: str, port: int, size: int) -> subprocess.Popen:
    """gunicorn gthread 2x4 on loopback."""
    log = open(WORK / f"gunicorn-{size}.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-k", "gthread", "-w", "2", "--threads", "4",
         "-b", f"127.0.0.1:{port}", "--keep-alive", "5", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=app_env(database_url), stdout=log, stderr=log, start_new_session=True)
    wait_for(f"http://127.0.0.1:{port}/healthz")
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a process group we started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Session:
    """A signed-in agent: cookie jar, CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.get("/staff/login").decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
        self.post("/staff/login", {"email": "bench-agent@example.com", "password": PASSWORD,
                                   "csrf_token": token})
        page = self.get("/staff/queues/bench").decode()
        if "Take next" not in page and "csrf_token" not in page:
            raise SystemExit("sign-in failed")
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]

    def get(self, path: str) -> bytes:
        """GET, 200 only."""
        with self.opener.open(self.base + path, timeout=60) as response:
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}")
            return response.read()

    def post(self, path: str, data: dict) -> None:
        """POST a form (redirects followed)."""
        body = urllib.parse.urlencode(data).encode()
        with self.opener.open(self.base + path, data=body, timeout=60) as response:
            response.read()

    @property
    def cookie(self) -> str:
        """The Cookie header wrk sends."""
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def wrk(base: str, cookie: str, path: str, args, *, status: int = 200, method: str = "GET",
        paths: Path | None = None, body: str = "", duration: int | None = None) -> dict:
    """One wrk run; req/s, p50/p99 ms, bad responses, socket errors."""
    command = ["wrk", "-t2", f"-c{args.connections}", f"-d{duration or args.duration}s",
               "--timeout=10s", "--latency", "-H", f"Cookie: {cookie}",
               "-s", str(HERE / "requests.lua"), base + path, "--", str(status), method,
               str(paths) if paths else "-", body]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        match = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", output)
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", output)[1])
    errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
            "p50_ms": ms("50"), "p99_ms": ms("99"), "requests": requests,
            "bad": int(re.search(r"BAD_RESPONSES (\d+)", output)[1]),
            "socket_errors": errors[1] if errors else ""}


def pool_state(database_url: str) -> tuple[int, int]:
    """(assigned, unassigned) open cases of the pool."""
    out = subprocess.run(["psql", "-At", database_url.replace("+psycopg", ""), "-c",
                          "SELECT count(assignee_id), count(*) - count(assignee_id) FROM "
                          "case_work w JOIN work_queue q ON q.id = w.queue_id "
                          "WHERE q.slug = 'pool' AND w.is_open"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assigned, free = out.split("|")
    return int(assigned), int(free)


def reset_pool(database_url: str) -> None:
    """Put every pool case back in the queue."""
    subprocess.run(["psql", "-q", database_url.replace("+psycopg", ""), "-c",
                    "UPDATE case_work SET assignee_id = NULL, assigned_at = NULL WHERE "
                    "queue_id = (SELECT id FROM work_queue WHERE slug = 'pool')"], check=True,
                   stdout=subprocess.DEVNULL)


def sequential(session: Session, path: str, samples: int = 50) -> dict:
    """Like the anchor's staff measurement: 2 warm-ups, then sequential samples."""
    for _ in range(2):
        session.get(path)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        session.get(path)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))]}


def run_anchor(admin_url: str) -> dict:
    """django-helpdesk 2.6.1 on the same PostgreSQL server: 1,000 tickets through its form,
    then its staff queue JSON (25 rows), with its own scripts."""
    env = {**os.environ, "HELPDESK_DB": db_url(admin_url, "helpdesk_anchor").replace(
        "+psycopg", ""), "HELPDESK_RESET": "1"}
    log = WORK / "anchor.log"
    with open(log, "ab") as out:
        subprocess.run(["bash", "setup.sh", str(ANCHOR_VENV)], cwd=ANCHOR, env=env, check=True,
                       stdout=out, stderr=out)
        subprocess.run(["bash", "serve.sh", str(ANCHOR_VENV)], cwd=ANCHOR, env=env, check=True,
                       stdout=out, stderr=out)
        try:
            result_file = WORK / "anchor.json"
            subprocess.run([str(ANCHOR_VENV / "bin" / "python"), "bench.py", "--clients", "4",
                            "--tickets", "1000", "--out", str(result_file)], cwd=ANCHOR,
                           env=env, check=True, stdout=out, stderr=out)
        finally:
            subprocess.run(["bash", "stop.sh"], cwd=ANCHOR, env=env, stdout=out, stderr=out)
    return json.loads(result_file.read_text())


def main() -> int:
    """Run the benchmark; exit 1 on any error or a missed target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--pool", type=int, default=40000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--admin-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--no-anchor", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    servers, sessions, urls, folders = {}, {}, {}, {}
    results: dict = {"started": datetime.now(UTC).isoformat(), "args": vars(args),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load": os.getloadavg()}, "runs": []}
    failures: list[str] = []
    try:
        for size in sizes:
            urls[size], folders[size] = prepare(args.admin_url, size, args.pool)
            port = free_port()
            servers[size] = start_gunicorn(urls[size], port, size)
            sessions[size] = Session(f"http://127.0.0.1:{port}")
        endpoints = [("queue", "/staff/queues/bench", {}),
                     ("case", "/", {"paths": "refs.txt"}),
                     ("search", "/", {"paths": "search.txt"}),
                     ("take_next", "/staff/queues/pool/next", {"status": 303, "method": "POST"})]
        for round_no in range(args.rounds):
            order = sizes if round_no % 2 == 0 else list(reversed(sizes))
            for size in order:
                session = sessions[size]
                for name, path, options in endpoints:
                    kwargs = dict(options)
                    if "paths" in kwargs:
                        kwargs["paths"] = folders[size] / kwargs["paths"]
                    if name == "take_next":
                        kwargs["body"] = "csrf_token=" + urllib.parse.quote(session.csrf)
                    wrk(session.base, session.cookie, path, args, duration=2, **kwargs)
                    if name == "take_next":
                        reset_pool(urls[size])
                    run = wrk(session.base, session.cookie, path, args, **kwargs)
                    if name == "take_next":
                        assigned, free = pool_state(urls[size])
                        run["assigned"], run["left"] = assigned, free
                        if assigned < run["requests"] or free == 0:
                            failures.append(f"take_next at {size}: {assigned} assigned for "
                                            f"{run['requests']} requests, {free} left")
                        reset_pool(urls[size])
                    run.update(size=size, endpoint=name, round=round_no + 1)
                    results["runs"].append(run)
                    print(f"round {round_no + 1} {size:>7,} {name:<10} {run['rps']:8.1f} req/s "
                          f"p50 {run['p50_ms']:7.1f} ms p99 {run['p99_ms']:7.1f} ms "
                          f"bad {run['bad']} {run['socket_errors']}", flush=True)
                    if run["bad"] or run["socket_errors"]:
                        failures.append(f"{name} at {size}: {run['bad']} bad responses, "
                                        f"socket errors {run['socket_errors'] or 'none'}")
        smallest = min(sizes)
        results["sequential_queue_page"] = sequential(sessions[smallest], "/staff/queues/bench")
    finally:
        for process in servers.values():
            stop(process)
    if not args.no_anchor:
        try:
            anchor = run_anchor(args.admin_url)
            results["anchor"] = anchor
        except (subprocess.CalledProcessError, OSError, ValueError) as error:
            results["anchor_error"] = f"{type(error).__name__}: {error} (see {WORK}/anchor.log)"
            failures.append("django-helpdesk anchor could not be measured")
    write(results, sizes, failures)
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


def summary(results: dict, sizes: list[int]) -> dict:
    """Medians over rounds per (size, endpoint)."""
    table: dict = {}
    for run in results["runs"]:
        table.setdefault((run["size"], run["endpoint"]), []).append(run)
    return {key: {m: statistics.median(r[m] for r in runs) for m in ("rps", "p50_ms", "p99_ms")}
            for key, runs in table.items()}


def write(results: dict, sizes: list[int], failures: list[str]) -> None:
    """results.json and results.md; adds the target checks to ``failures``."""
    medians = summary(results, sizes)
    lines = ["| endpoint | " + " | ".join(f"{s:,} cases: req/s, p50 / p99 ms" for s in sizes)
             + " | p99 ratio |", "|---|" + "---|" * (len(sizes) + 1)]
    small, large = min(sizes), max(sizes)
    for name in ("queue", "case", "search", "take_next"):
        cells = []
        for size in sizes:
            m = medians.get((size, name))
            cells.append(f"{m['rps']:.0f}, {m['p50_ms']:.1f} / {m['p99_ms']:.1f}" if m else "-")
        ratio = None
        if (small, name) in medians and (large, name) in medians and small != large:
            ratio = medians[(large, name)]["p99_ms"] / medians[(small, name)]["p99_ms"]
            if ratio > 1.5:
                failures.append(f"{name}: p99 at {large:,} is {ratio:.2f}x p99 at {small:,}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}x |" if ratio
                     else f"| {name} | " + " | ".join(cells) + " | - |")
    seq = results.get("sequential_queue_page", {})
    anchor_p50 = _anchor_json_p50(results.get("anchor"))
    lines += ["", f"Queue page, 25 rows, {small:,} cases, one signed-in client, 50 sequential "
              f"samples: p50 {seq.get('p50_ms', 0):.1f} ms, p99 {seq.get('p99_ms', 0):.1f} ms."]
    if anchor_p50:
        speedup = anchor_p50 / seq["p50_ms"] if seq.get("p50_ms") else 0
        results["anchor_queue_json_p50_ms"], results["queue_speedup"] = anchor_p50, speedup
        lines.append(f"django-helpdesk 2.6.1 staff queue JSON, 25 rows, 1,000 tickets, same "
                     f"PostgreSQL, same run: p50 {anchor_p50:.1f} ms -> ours is "
                     f"{speedup:.1f}x faster (target >= 3x).")
        if speedup < 3:
            failures.append(f"queue page only {speedup:.1f}x faster than django-helpdesk")
    elif "anchor_error" in results:
        lines.append(f"django-helpdesk: not measured ({results['anchor_error']}).")
    results["failures"] = failures
    (HERE / "results.json").write_text(json.dumps(results, indent=2, default=str))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    text = (f"Queues benchmark {stamp}, PostgreSQL, gunicorn gthread 2x4, wrk -t2 "
            f"-c{results['args']['connections']} -d{results['args']['duration']}s, medians of "
            f"{results['args']['rounds']} interleaved rounds; load average at start "
            f"{results['machine']['load'][0]:.1f}.\n\n" + "\n".join(lines) + "\n"
            + ("\nFailures:\n" + "\n".join(f"- {f}" for f in failures) + "\n" if failures
               else "\nAll runs error-free; targets met.\n"))
    (HERE / "results.md").write_text(text)
    print(text)


def _anchor_json_p50(anchor: dict | None) -> float | None:
    """The anchor's staff DataTables JSON (25 rows) p50, from its bench.py output."""
    try:
        return float(anchor["staff"]["json_25"]["p50"])
    except (TypeError, KeyError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
