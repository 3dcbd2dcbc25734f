"""Seed a migrated database for the queues benchmark (set-based: PostgreSQL COPY).

    DATABASE_URL=... python bench/queues/seed.py SIZE POOL OUT_DIR

Creates an agent (bench-agent@example.com), queue ``bench`` with SIZE open cases and
queue ``pool`` with POOL open cases for take-next, both with the agent as member; writes
``refs.txt`` (case page paths) and ``search.txt`` (search paths) to OUT_DIR.
"""

from __future__ import annotations

import io
import random
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
PASSWORD = "bench-password-2026"  # noqa: S105 - a throwaway benchmark account


def reference(i: int) -> str:
    """A distinct valid case reference for row ``i``."""
    digits = []
    for _ in range(8):
        i, r = divmod(i, len(ALPHABET))
        digits.append(ALPHABET[r])
    code = "".join(reversed(digits))
    return f"CS-{code[:4]}-{code[4:]}"


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def main() -> None:
    """Seed and write the path files."""
    size, pool, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    from portal import create_app
    from portal.extensions import db
    from portal.queues.models import AgentStatus, Queue, QueueMember
    from portal.staff import services

    app = create_app()
    with app.app_context():
        agent = services.create_staff("bench-agent@example.com", "agent", PASSWORD)
        queues = {}
        for slug in ("bench", "pool"):
            queues[slug] = Queue(slug=slug, name={"en": slug}, strategy="manual",
                                 is_fallback=slug == "bench")
            db.session.add(queues[slug])
        db.session.flush()
        for q in queues.values():
            db.session.add(QueueMember(queue_id=q.id, user_id=agent.id))
        db.session.add(AgentStatus(user_id=agent.id, available=True, capacity=10**9))
        db.session.commit()
        rng = random.Random(7)
        start = datetime(2026, 3, 1, tzinfo=UTC)
        total = size + pool
        cases, messages, works = [], [], []
        for i in range(1, total + 1):
            created = start + timedelta(seconds=i * 7)
            queue_id = queues["bench"].id if i <= size else queues["pool"].id
            state = rng.choice(("new", "new", "open", "open", "waiting_customer"))
            priority = rng.choice((1, 2, 3, 3, 3, 3, 4))
            cases.append((i, reference(i), "claim", "delay", state, "web", "Bench Customer",
                          f"+86138{i:08d}", f"c{i}@example.com", "zh_Hans", "sms", "false",
                          secrets.token_hex(8), created.isoformat(), created.isoformat(), 0,
                          f"SF{7000000000000 + i}", "complaint_7d",
                          (created + timedelta(days=7)).isoformat(), 2350))
            messages.append((i, i, "customer", "true", "customer",
                             "包裹延误了五天，请尽快处理。", created.isoformat()))
            paused = created.isoformat() if state == "waiting_customer" else None
            works.append((i, queue_id, priority, state, "true", created.isoformat(), 0,
                          "false", "[]", 1, created.isoformat(),
                          created.isoformat(), 480, 2400,
                          (created + timedelta(hours=8)).isoformat(),
                          (created + timedelta(days=3)).isoformat(), paused))
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            _copy(cursor, "customer_case", [
                "id", "reference", "kind", "type", "state", "source", "customer_name",
                "phone_e164", "email", "language", "preferred_channel", "insured",
                "access_nonce", "created_at", "updated_at", "reopened_count",
                "tracking_number", "legal_clock", "legal_due_at", "freight_fen"], cases)
            _copy(cursor, "case_message", ["id", "case_id", "kind", "public", "author_label",
                                           "body", "created_at"], messages)
            _copy(cursor, "case_work", [
                "case_id", "queue_id", "priority", "state", "is_open", "opened_at",
                "paused_seconds", "escalated", "signals", "contacts", "updated_at",
                "sla_started_at", "first_response_minutes", "resolution_minutes",
                "first_response_due_at", "resolution_due_at", "paused_since"], works)
            cursor.execute("SELECT setval(pg_get_serial_sequence('customer_case', 'id'), "
                           "(SELECT max(id) FROM customer_case))")
            cursor.execute("SELECT setval(pg_get_serial_sequence('case_message', 'id'), "
                           "(SELECT max(id) FROM case_message))")
            connection.commit()
        finally:
            connection.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # visibility map: index-only counts
    out.mkdir(parents=True, exist_ok=True)
    picks = [rng.randint(1, size) for _ in range(500)]
    (out / "refs.txt").write_text("".join(f"/staff/cases/{reference(i)}\n" for i in picks))
    (out / "search.txt").write_text("".join(
        f"/staff/search?q=SF{7000000000000 + i}\n" for i in picks))


if __name__ == "__main__":
    main()
