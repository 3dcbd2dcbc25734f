"""Benchmark the public incident pages: one command, a results file, a printed table.

    .venv/bin/python bench/incidents/run.py [--duration 10] [--rounds 2] [--cache redis]

Seeds 200 incidents into a fresh SQLite database (migrations first), serves the app with
gunicorn (gthread) on loopback and nginx on another port, then measures with wrk, in
interleaved rounds (the order rotates each round):

- nginx serving the home page's and the incident page's exact bytes as static files
  (the ceiling),
- ``/_bench/constant``: a route of the same app and middleware returning the home page's
  bytes (registered only with ``PORTAL_BENCH_ROUTES=1``),
- the home page ``/`` and an incident page ``/incidents/<ref>``.

Only full 200 responses with the expected length count (a wrk Lua check); any other
response or socket error fails the run. Target: public pages >= 80% of the constant route.
Writes ``bench/incidents/results.json`` and ``bench/incidents/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "bench" / "_work" / "incidents"
PYTHON = ROOT / ".venv" / "bin" / "python"
ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"
TARGET_SHARE = 0.80


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def fetch(url: str) -> bytes:
    """GET ``url`` like wrk will (same Accept-Language); refuse anything but 200."""
    request = urllib.request.Request(url, headers={"Accept-Language": ACCEPT_LANGUAGE})
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200:
            raise SystemExit(f"{url}: HTTP {response.status}")
        return response.read()


def app_env(args, constant_file: Path | None) -> dict:
    """Environment of the app under test."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{WORK / 'bench.db'}",
           "SECRET_KEY": secrets.token_hex(32), "OUTBOX_DISPATCH": "none",
           "PORTAL_BENCH_ROUTES": "1", "FLASK_APP": "wsgi.py",
           "CELERY_BROKER_URL": "memory://", "REDIS_URL": "", "PYTHONPATH": str(ROOT)}
    if args.cache == "redis":
        env["PUBLIC_PAGE_CACHE_REDIS_URL"] = args.redis_url
        env["PUBLIC_PAGE_CACHE_PREFIX"] = "bench:pages:" + secrets.token_hex(4)
    else:
        env["PUBLIC_PAGE_CACHE"] = "local"
    if constant_file is not None:
        env["PORTAL_BENCH_CONSTANT_FILE"] = str(constant_file)
    return env


def start_gunicorn(args, port: int, constant_file: Path | None) -> subprocess.Popen:
    """gunicorn gthread workers serving ``wsgi:app``."""
    log = open(WORK / "gunicorn.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-k", "gthread", "-w", str(args.workers),
         "--threads", str(args.threads), "-b", f"127.0.0.1:{port}", "--keep-alive", "5",
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=app_env(args, constant_file), stdout=log, stderr=log,
        start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
    except BaseException:
        stop(process)
        raise
    return process


def start_nginx(port: int) -> subprocess.Popen:
    """nginx serving ``WORK/static`` (daemon off, no access log, temp paths in WORK)."""
    for folder in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (WORK / "nginx-temp" / folder).mkdir(parents=True, exist_ok=True)
    temp = WORK / "nginx-temp"
    conf = WORK / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
daemon off;
pid {WORK / 'nginx.pid'};
error_log {WORK / 'nginx-error.log'} warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {temp / 'client'};
  proxy_temp_path {temp / 'proxy'};
  fastcgi_temp_path {temp / 'fastcgi'};
  uwsgi_temp_path {temp / 'uwsgi'};
  scgi_temp_path {temp / 'scgi'};
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {WORK / 'static'}; default_type text/html; }}
  }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(WORK), "-e",
                                str(WORK / "nginx-error.log")],
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/home.html")
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a process group we started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def cpu_seconds(master: subprocess.Popen | None) -> float:
    """User + system CPU seconds used so far by gunicorn's workers (all their threads)."""
    if master is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    total = 0
    for pid in [master.pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def wrk(args, url: str, length: int, duration: int,
        app: subprocess.Popen | None = None) -> dict:
    """One wrk run; returns req/s, p50/p99 ms and the count of bad responses."""
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{duration}s",
               f"--timeout={args.timeout}s", "--latency",
               "-H", f"Accept-Language: {ACCEPT_LANGUAGE}",
               "-s", str(HERE / "check.lua"), url, "--", str(length)]
    cpu_before = cpu_seconds(app)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu_used = cpu_seconds(app) - cpu_before
    requests = int(re.search(r"(\d+) requests in", output)[1])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    bad = int(re.search(r"BAD_RESPONSES (\d+)", output)[1])
    errors = re.search(r"Socket errors: (.*)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)

    def ms(label: str) -> float:
        match = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", output)
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "bad": bad,
            "cpu_us_per_request": round(cpu_used / requests * 1e6) if app and requests else None,
            "socket_errors": errors[1] if errors else "", "non2xx": int(non2xx[1]) if non2xx
            else 0}


def main() -> int:
    """Run the benchmark; exit 1 on any bad response or a missed target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=5,
                        help="wrk's per-request timeout in seconds (a timeout is an error)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cache", choices=["redis", "local"], default="redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "static").mkdir(parents=True)
    env = app_env(args, None)
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    reference = subprocess.run([str(PYTHON), str(HERE / "seed.py")], cwd=ROOT, env=env,
                               check=True, capture_output=True, text=True
                               ).stdout.strip().splitlines()[-1]
    app_port, nginx_port = free_port(), free_port()
    # First start: take the exact bytes of the two pages.
    process = start_gunicorn(args, app_port, None)
    try:
        home = fetch(f"http://127.0.0.1:{app_port}/")
        incident = fetch(f"http://127.0.0.1:{app_port}/incidents/{reference}")
    finally:
        stop(process)
    (WORK / "static" / "home.html").write_bytes(home)
    (WORK / "static" / "incident.html").write_bytes(incident)
    app = start_gunicorn(args, app_port, WORK / "static" / "home.html")
    try:
        nginx = start_nginx(nginx_port)
    except BaseException:
        stop(app)
        raise
    app_url, nginx_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{nginx_port}"
    targets = {
        "nginx static (home bytes)": (f"{nginx_url}/home.html", len(home)),
        "app constant route": (f"{app_url}/_bench/constant", len(home)),
        "app home /": (f"{app_url}/", len(home)),
        "app incident page": (f"{app_url}/incidents/{reference}", len(incident)),
        "nginx static (incident bytes)": (f"{nginx_url}/incident.html", len(incident)),
    }
    results: dict[str, list[dict]] = {name: [] for name in targets}
    failures = []
    try:
        for name, (url, length) in targets.items():  # warm-up, also checks the bytes
            if fetch(url) != (home if "incident" not in url else incident) and \
                    "constant" not in url:
                failures.append(f"{name}: served bytes differ from the page")
            wrk(args, url, length, 2)
        names = list(targets)
        for round_number in range(args.rounds):
            order = names[round_number % len(names):] + names[:round_number % len(names)]
            for name in order:
                url, length = targets[name]
                run = wrk(args, url, length, args.duration,
                          app if url.startswith(app_url) else None)
                results[name].append(run)
                print(f"round {round_number + 1} {name:<32} {run['rps']:>10.0f} req/s "
                      f"p99 {run['p99_ms']:.1f} ms bad {run['bad']} "
                      f"app CPU/request {run['cpu_us_per_request']} us", flush=True)
                if run["bad"] or run["socket_errors"] or run["non2xx"]:
                    failures.append(f"{name} round {round_number + 1}: {run['bad']} bad, "
                                    f"{run['non2xx']} non-2xx, errors {run['socket_errors']}")
    finally:
        stop(app)
        stop(nginx)
    median = {name: statistics.median(r["rps"] for r in runs) for name, runs in results.items()}
    constant = median["app constant route"]
    ceiling = median["nginx static (home bytes)"]
    rows = []
    for name, runs in results.items():
        rows.append({"setup": name, "rps": [round(r["rps"]) for r in runs],
                     "median": round(median[name]),
                     "share_of_constant": round(median[name] / constant, 3),
                     "share_of_nginx": round(median[name] / ceiling, 3),
                     "p99_ms": [round(r["p99_ms"], 1) for r in runs],
                     "cpu_us_per_request": [r["cpu_us_per_request"] for r in runs],
                     "bytes": targets[name][1]})
    for page in ("app home /", "app incident page"):
        if median[page] < TARGET_SHARE * constant:
            failures.append(f"{page}: {median[page] / constant:.0%} of the constant route "
                            f"(target {TARGET_SHARE:.0%})")
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, " \
              f"Python {platform.python_version()}"
    command = " ".join([".venv/bin/python bench/incidents/run.py", *sys.argv[1:]])
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
              "load_average_after": load,
              "command": command.strip(), "cache": args.cache, "incidents": 200,
              "wrk": f"-t{args.wrk_threads} -c{args.connections} -d{args.duration}s",
              "gunicorn": f"gthread {args.workers}x{args.threads}", "rows": rows,
              "failures": failures}
    (HERE / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    table = ["| setup | bytes | req/s per round | median | share of constant route "
             "| share of nginx | p99 ms | app CPU us/request |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        table.append(f"| {row['setup']} | {row['bytes']} | "
                     f"{' / '.join(str(v) for v in row['rps'])} | {row['median']} | "
                     f"{row['share_of_constant']:.0%} | {row['share_of_nginx']:.0%} | "
                     f"{' / '.join(str(v) for v in row['p99_ms'])} | "
                     f"{' / '.join(str(v) for v in row['cpu_us_per_request'] if v) or '-'} |")
    text = "\n".join([f"Date: {report['date']}  ",
                      f"Machine: {machine} (load average after the run: {load})  ",
                      f"Command: `{report['command']}`  ",
                      f"wrk {report['wrk']}, gunicorn {report['gunicorn']}, page cache: "
                      f"{args.cache}, 200 incidents (SQLite)", "", *table, "",
                      "Result: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures))])
    (HERE / "results.md").write_text(text + "\n")
    print()
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
