"""Benchmark-only route (``PORTAL_BENCH_ROUTES=1``): constant bytes through the same app
and middleware, the baseline the public pages are measured against (bench/incidents)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response

from portal.limits import exempt_from_limits


def init_bench_routes(app: Flask) -> None:
    """Register ``/_bench/constant``: the bytes of ``PORTAL_BENCH_CONSTANT_FILE`` (or 20 KB
    of filler), served without the database, template or cache."""
    source = app.config.get("PORTAL_BENCH_CONSTANT_FILE")
    body = Path(source).read_bytes() if source else b"<!doctype html>" + b"x" * 20000

    def constant() -> Response:
        return Response(body, content_type="text/html; charset=utf-8")

    app.add_url_rule("/_bench/constant", "bench_constant", exempt_from_limits(constant))
