"""The audit log: who did what, when, to what. Every feature records its actions here.

``record(...)`` adds an :class:`AuditEntry` to the caller's transaction (add + flush, no
commit): the entry exists exactly when the action it describes does. The actor is
derived from the context: an API token (``g.api_token``), then the signed-in staff
member, then ``g.audit_actor_label`` (CLI commands set ``"cli:<user>"``), else
``"system"``; ``actor=`` or ``actor_label=`` override it.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import select

from portal.extensions import db
from portal.staff.models import AuditEntry, StaffUser

PAGE_SIZE = 50
_LABEL_MAX = 200


def _jsonable(value: Any) -> Any:
    """Turn a detail value into something the JSON column stores faithfully."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _context_actor() -> tuple[int | None, str]:
    """Return (actor_id, actor_label) derived from the context.

    In a request: the API token, then the signed-in staff member. Then a label set for
    the whole context in ``g.audit_actor_label`` (CLI commands, tasks), else "system".
    """
    if has_request_context():
        token = g.get("api_token")
        if token is not None:
            return None, f"api:{token.name} ({token.prefix})"
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return current_user.id, current_user.email
    if has_app_context():
        label = g.get("audit_actor_label")
        if label:
            return None, str(label)
    return None, "system"


def cli_actor() -> str:
    """Return the actor label of a command-line action: ``cli:<operating-system user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"cli:{user}"


def record(action: str, target_type: str | None = None, target_id: str | None = None, *,
           actor: StaffUser | None = None, actor_label: str | None = None,
           **detail: Any) -> AuditEntry:
    """Add an audit entry for ``action`` to the current transaction and return it.

    ``action`` is a dotted name (``"staff.created"``, ``"incident.published"``);
    ``target_type``/``target_id`` name what was acted on; keyword arguments become the
    JSON ``detail``. The actor is ``actor`` when given, else ``actor_label`` when given,
    else derived from the request (API token, signed-in staff) or ``"system"``. The
    request id and client address are stored when called inside a request. The caller
    commits (or rolls back, and the entry goes with the action).
    """
    if actor is not None:
        actor_id, label = actor.id, actor_label or actor.email
    elif actor_label is not None:
        actor_id, label = None, actor_label
    else:
        actor_id, label = _context_actor()
    entry = AuditEntry(
        actor_id=actor_id,
        actor_label=label[:_LABEL_MAX],
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=_jsonable(detail),
    )
    if has_request_context():
        entry.ip = request.remote_addr
        entry.request_id = g.get("request_id")
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass
class AuditPage:
    """One page of audit entries, newest first, with the id to continue from."""

    entries: list[AuditEntry]
    next_before: int | None


def list_entries(action: str = "", actor: str = "", target: str = "",
                 before: int | None = None, limit: int = PAGE_SIZE) -> AuditPage:
    """Return audit entries newest first, filtered, using keyset pagination on ``id``.

    ``action`` matches a prefix (``"staff."`` finds every staff action); ``actor`` matches
    part of the actor label; ``target`` is ``"type"`` or ``"type:id"``. ``before`` is the
    ``next_before`` of the previous page.
    """
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if action:
        query = query.where(AuditEntry.action.startswith(action.strip(), autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor_label.icontains(actor.strip(), autoescape=True))
    if target:
        target_type, _, target_id = target.strip().partition(":")
        query = query.where(AuditEntry.target_type == target_type)
        if target_id:
            query = query.where(AuditEntry.target_id == target_id)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(db.session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(entries=rows, next_before=rows[-1].id if more and rows else None)
