"""What routing reads of the configuration on every case: the enabled rules in order, the
queues by slug and the fallback queue, as plain values kept per process
(``portal.config_cache``; a write to a rule or a queue drops the copy)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.config_cache import cached
from portal.extensions import db
from portal.queues.models import Queue, RoutingRule


@dataclass(frozen=True)
class QueueInfo:
    """What routing needs of a queue (plain values, kept per process)."""

    id: int
    slug: str
    active: bool
    strategy: str


@dataclass(frozen=True)
class RuleInfo:
    """An enabled routing rule (plain values, kept per process)."""

    id: int
    name: str
    conditions: dict
    actions: dict


@dataclass(frozen=True)
class RoutingConfig:
    """The enabled rules in order, the queues by slug and the fallback queue."""

    rules: tuple[RuleInfo, ...]
    queues: dict[str, QueueInfo]
    fallback: QueueInfo | None


def _queue_info(queue: Queue) -> QueueInfo:
    return QueueInfo(queue.id, queue.slug, bool(queue.active), str(queue.strategy))


def _load_config() -> RoutingConfig:
    rules = tuple(RuleInfo(r.id, r.name, dict(r.conditions or {}), dict(r.actions or {}))
                  for r in db.session.scalars(
                      select(RoutingRule).where(RoutingRule.enabled.is_(True))
                      .order_by(RoutingRule.position, RoutingRule.id)))
    queues = list(db.session.scalars(select(Queue).order_by(Queue.position, Queue.id)))
    fallback = next((q for q in queues if q.is_fallback and q.active), None)
    return RoutingConfig(rules, {q.slug: _queue_info(q) for q in queues},
                         _queue_info(fallback) if fallback is not None else None)


# Read on every filed case; kept per process (see portal.config_cache).
routing_config = cached("routing", (RoutingRule, Queue), _load_config)
