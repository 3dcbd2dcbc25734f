"""Policy versions: which version is in force, new versions, publication rules.

A version is drafted, then published with an effective date at least
``CASES_POLICY_NOTICE_DAYS`` (10) days ahead (Express Market Measures, Art. 22), unless it
is marked as a force-majeure measure, which may take effect at once. Published versions
never change; a case keeps the version in force when it was filed. Every function adds
and flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal.cases.models import Formula, PolicyRule, PolicyVersion
from portal.cases.policy import DEFAULT_RULES, ClaimInput, Estimate, Rule, StandingOffer, calculate
from portal.config_cache import cached
from portal.db import utcnow
from portal.extensions import db
from portal.staff import audit


class PolicyError(ValueError):
    """A policy change that the rules do not allow; ``code`` says why."""

    def __init__(self, code: str, message: str = ""):
        """``code``: too_soon, published, empty, invalid_rule."""
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class RuleInput:
    """A rule as typed by an administrator."""

    claim_type: str
    insured: bool
    service_line: str
    formula: str
    freight_multiple: int | None = None
    cap_fen: int | None = None
    invoice_above_fen: int | None = None
    evidence: tuple[str, ...] = ()
    note: dict | None = None


def to_rule(row: PolicyRule) -> Rule:
    """A pure ``Rule`` from a database row."""
    return Rule(claim_type=row.claim_type, insured=bool(row.insured), formula=row.formula,
                service_line=row.service_line or "*", freight_multiple=row.freight_multiple,
                cap_fen=row.cap_fen, invoice_above_fen=row.invoice_above_fen,
                evidence=tuple(row.evidence or ()))


_RULES_CACHE: dict[tuple, tuple[Rule, ...]] = {}


def rules_of(version: PolicyVersion | None) -> tuple[Rule, ...]:
    """The version's rules as pure values (the built-in defaults when there is none).

    A published version never changes, so its rules are kept per process (keyed by id and
    creation time, which also tells apart rows that reuse an id)."""
    if version is None:
        return DEFAULT_RULES
    if isinstance(version, VersionInForce):
        return version.rules
    if version.published_at is None or version.created_at is None:
        return tuple(to_rule(row) for row in version.rules)
    key = (version.id, version.created_at.isoformat())
    rules = _RULES_CACHE.get(key)
    if rules is None:
        rules = tuple(to_rule(row) for row in version.rules)
        if len(_RULES_CACHE) > 100:
            _RULES_CACHE.clear()
        _RULES_CACHE[key] = rules
    return rules


def version_in_force(at: datetime | None = None) -> PolicyVersion | None:
    """The published version with the latest ``effective_from`` not after ``at``."""
    at = at or utcnow()
    return db.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.published_at.is_not(None), PolicyVersion.effective_from <= at)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc()).limit(1))


def upcoming_versions(at: datetime | None = None) -> list[PolicyVersion]:
    """Published versions that take effect later (announced ahead, as the law asks)."""
    at = at or utcnow()
    return list(db.session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.published_at.is_not(None), PolicyVersion.effective_from > at)
        .order_by(PolicyVersion.effective_from)))


def all_versions() -> list[PolicyVersion]:
    """Every version, newest first."""
    return list(db.session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())))


def _add_rules(version: PolicyVersion, rules: list[RuleInput]) -> None:
    seen = set()
    for rule in rules:
        key = (rule.claim_type, bool(rule.insured), rule.service_line or "*")
        if key in seen:
            raise PolicyError("invalid_rule", f"duplicate rule {key}")
        seen.add(key)
        if rule.formula not in set(Formula):
            raise PolicyError("invalid_rule", f"unknown formula {rule.formula!r}")
        for value in (rule.freight_multiple, rule.cap_fen, rule.invoice_above_fen):
            if value is not None and value < 0:
                raise PolicyError("invalid_rule", "negative value")
        version.rules.append(PolicyRule(
            claim_type=rule.claim_type, insured=bool(rule.insured),
            service_line=rule.service_line or "*", formula=rule.formula,
            freight_multiple=rule.freight_multiple, cap_fen=rule.cap_fen,
            invoice_above_fen=rule.invoice_above_fen, evidence=list(rule.evidence),
            note=dict(rule.note or {})))


def create_version(name: str, effective_from: datetime, rules: list[RuleInput], *,
                   force_majeure: bool = False, summary: dict | None = None,
                   actor=None) -> PolicyVersion:
    """Draft a new version (not yet published)."""
    if not rules:
        raise PolicyError("empty", "a version needs at least one rule")
    version = PolicyVersion(name=name.strip()[:80] or "policy", effective_from=effective_from,
                            force_majeure=force_majeure, summary=dict(summary or {}),
                            created_by_id=getattr(actor, "id", None))
    _add_rules(version, rules)
    db.session.add(version)
    db.session.flush()
    audit.record("policy.version_created", "policy_version", str(version.id), actor=actor,
                 name=version.name, effective_from=effective_from,
                 force_majeure=force_majeure, rules=len(rules))
    return version


def publish_version(version: PolicyVersion, *, actor=None,
                    now: datetime | None = None) -> PolicyVersion:
    """Publish a draft: at least the notice period ahead, unless force majeure."""
    now = now or utcnow()
    if version.published_at is not None:
        raise PolicyError("published", "already published")
    notice = timedelta(days=int(current_app.config.get("CASES_POLICY_NOTICE_DAYS", 10)))
    if not version.force_majeure and version.effective_from < now + notice:
        raise PolicyError("too_soon", "effective date must be at least the notice period ahead")
    if version.force_majeure and version.effective_from < now:
        version.effective_from = now
    version.published_at = now
    version.published_by_id = getattr(actor, "id", None)
    db.session.flush()
    audit.record("policy.version_published", "policy_version", str(version.id), actor=actor,
                 effective_from=version.effective_from, force_majeure=version.force_majeure)
    return version


@dataclass(frozen=True)
class VersionInForce:
    """The id and rules of the version in force: what filing a claim needs of it."""

    id: int
    rules: tuple[Rule, ...]


def _load_published() -> tuple[tuple, ...]:
    return tuple(tuple(row) for row in db.session.execute(
        select(PolicyVersion.id, PolicyVersion.effective_from, PolicyVersion.created_at)
        .where(PolicyVersion.published_at.is_not(None))
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())))


# Published versions (id, effective date): read on every claim, kept per process.
_published = cached("policy_versions", (PolicyVersion, PolicyRule), _load_published)


def policy_in_force(at: datetime | None = None) -> VersionInForce:
    """The version in force (as ``ensure_default_version``), from the per-process list of
    published versions and their rules: no query once both are known."""
    at = at or utcnow()
    for version_id, effective_from, created_at in _published():
        if effective_from <= at:
            rules = _RULES_CACHE.get((version_id, created_at.isoformat())) if created_at \
                else None
            if rules is None:
                rules = rules_of(db.session.get(PolicyVersion, version_id))
            return VersionInForce(version_id, rules)
    version = ensure_default_version()
    return VersionInForce(version.id, rules_of(version))


def ensure_default_version() -> PolicyVersion:
    """The version in force; a built-in default (DOMAIN.md) is created when none exists."""
    version = version_in_force()
    if version is not None:
        return version
    version = PolicyVersion(name="Default (built-in)", effective_from=utcnow() - timedelta(
        days=1), published_at=utcnow(), force_majeure=False, summary={})
    _add_rules(version, [RuleInput(r.claim_type, r.insured, r.service_line, r.formula,
                                   r.freight_multiple, r.cap_fen, r.invoice_above_fen,
                                   r.evidence) for r in DEFAULT_RULES])
    db.session.add(version)
    db.session.flush()
    return version


def rule_inputs_of(version: PolicyVersion | None) -> list[RuleInput]:
    """Editable copies of a version's rules (the starting point of a new version)."""
    if version is None:
        return [RuleInput(r.claim_type, r.insured, r.service_line, r.formula, r.freight_multiple,
                          r.cap_fen, r.invoice_above_fen, r.evidence) for r in DEFAULT_RULES]
    return [RuleInput(r.claim_type, r.insured, r.service_line, r.formula, r.freight_multiple,
                      r.cap_fen, r.invoice_above_fen, tuple(r.evidence or ()), dict(r.note or {}))
            for r in version.rules]


def estimate(claim: ClaimInput, version: PolicyVersion | None,
             incident=None) -> Estimate:
    """Estimate a claim under a version, with the incident's standing offer applied."""
    offer = StandingOffer.from_json(getattr(incident, "standing_offer_policy", None))
    return calculate(rules_of(version), claim, offer)
