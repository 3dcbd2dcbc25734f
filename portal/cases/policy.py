"""The compensation calculation: a pure function of the claim and the policy's rules.

No database, no request, no clock: ``calculate(rules, claim, offer)`` gives the same
:class:`Estimate` for the same input and rule set, never a negative amount and never more
than the cap it reports. All amounts are integer fen (1/100 yuan).

Formulas (``Formula``), defaults from docs (DOMAIN.md), all configurable per rule:

- ``freight_refund``: the freight paid (delay: waive this shipment's fee).
- ``actual_value_capped``: the value claimed, capped at N x freight and/or a flat cap
  (uninsured loss).
- ``declared_value``: the value claimed, up to the declared (insured) value; the declared
  value itself when no value was claimed (insured loss).
- ``proportional``: the damaged or missing share of the value (declared value when insured,
  else the value claimed), capped like ``actual_value_capped`` when caps are set.
- ``flat``: a fixed amount (``cap_fen``).
- ``none``: nothing by policy; staff decide.

A standing offer of an incident (``StandingOffer``) is a floor: the customer gets the
larger of the policy amount and the offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.cases.models import Formula

ANY_SERVICE = "*"


@dataclass(frozen=True)
class Rule:
    """One rule of a policy version (a plain copy of ``PolicyRule``)."""

    claim_type: str
    insured: bool
    formula: str
    service_line: str = ANY_SERVICE
    freight_multiple: int | None = None
    cap_fen: int | None = None
    invoice_above_fen: int | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimInput:
    """What the customer entered (amounts in fen; None when not given)."""

    claim_type: str
    insured: bool = False
    service_line: str | None = None
    claimed_fen: int | None = None
    declared_value_fen: int | None = None
    freight_fen: int | None = None
    damaged_percent: int | None = None


@dataclass(frozen=True)
class StandingOffer:
    """An incident's machine-readable standing offer (``Incident.standing_offer_policy``).

    JSON shape: ``{"claim_types": ["delay"], "formula": "freight_refund" | "flat" |
    "freight_multiple", "amount_fen": 1000, "multiple": 2}``.
    """

    claim_types: tuple[str, ...]
    formula: str
    amount_fen: int = 0
    multiple: int = 1

    @classmethod
    def from_json(cls, data: dict | None) -> StandingOffer | None:
        """Parse the incident's JSON; None when absent or malformed."""
        if not isinstance(data, dict):
            return None
        formula = data.get("formula")
        if formula not in ("freight_refund", "flat", "freight_multiple"):
            return None
        types = data.get("claim_types") or ["delay"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            return None
        try:
            amount = max(0, int(data.get("amount_fen") or 0))
            multiple = max(0, int(data.get("multiple") or 1))
        except (TypeError, ValueError):
            return None
        return cls(tuple(types), formula, amount, multiple)

    def amount_for(self, claim: ClaimInput) -> int | None:
        """The offer's amount for ``claim``; None when the offer does not cover its type."""
        if claim.claim_type not in self.claim_types:
            return None
        freight = _fen(claim.freight_fen)
        if self.formula == "freight_refund":
            return freight
        if self.formula == "freight_multiple":
            return freight * self.multiple
        return self.amount_fen


@dataclass(frozen=True)
class Estimate:
    """The result: the amount, its cap, and why (reason codes with values)."""

    amount_fen: int
    cap_fen: int | None
    formula: str
    eligible: bool  # a rule covers this claim type
    rule: Rule | None = None
    reasons: tuple[tuple[str, dict], ...] = ()
    evidence: tuple[str, ...] = ()
    offer_applied: bool = False
    missing: tuple[str, ...] = field(default=())  # inputs the formula needs but lacks

    def as_dict(self) -> dict:
        """JSON-friendly breakdown (stored with the "suggested" decision step)."""
        return {"amount_fen": self.amount_fen, "cap_fen": self.cap_fen,
                "formula": self.formula, "eligible": self.eligible,
                "offer_applied": self.offer_applied, "evidence": list(self.evidence),
                "missing": list(self.missing),
                "reasons": [[code, values] for code, values in self.reasons]}


def _fen(value: int | None) -> int:
    """A non-negative integer amount (None and negatives count as 0)."""
    return max(0, int(value or 0))


def select_rule(rules: list[Rule] | tuple[Rule, ...], claim_type: str, insured: bool,
                service_line: str | None) -> Rule | None:
    """The rule for this claim: an exact service line beats ``*``; insured rules fall back
    to the uninsured rule of the same type when no insured rule exists."""
    for want_insured in ((insured, False) if insured else (False,)):
        exact = wildcard = None
        for rule in rules:
            if rule.claim_type != claim_type or bool(rule.insured) != want_insured:
                continue
            if service_line and rule.service_line == service_line:
                exact = exact or rule
            elif rule.service_line == ANY_SERVICE:
                wildcard = wildcard or rule
        if exact or wildcard:
            return exact or wildcard
    return None


def _caps(rule: Rule, freight: int) -> tuple[int | None, list[tuple[str, dict]]]:
    """The cap from N x freight and the flat cap (the lower of the two), with reasons."""
    caps, reasons = [], []
    if rule.freight_multiple is not None:
        caps.append(freight * max(0, rule.freight_multiple))
        reasons.append(("cap_freight_multiple",
                        {"multiple": rule.freight_multiple, "cap_fen": caps[-1]}))
    if rule.cap_fen is not None:
        caps.append(_fen(rule.cap_fen))
        reasons.append(("cap_flat", {"cap_fen": caps[-1]}))
    return (min(caps) if caps else None), reasons


def _policy_amount(rule: Rule, claim: ClaimInput) -> tuple[int, int | None, list, list]:
    """Amount, cap, reasons and missing inputs for one rule."""
    freight = _fen(claim.freight_fen)
    claimed = _fen(claim.claimed_fen)
    declared = _fen(claim.declared_value_fen)
    reasons: list[tuple[str, dict]] = []
    missing: list[str] = []
    formula = rule.formula
    if formula == Formula.FREIGHT_REFUND:
        if not freight:
            missing.append("freight")
        reasons.append(("freight_refund", {"freight_fen": freight}))
        cap = freight if rule.cap_fen is None else min(freight, _fen(rule.cap_fen))
        return min(freight, cap), cap, reasons, missing
    if formula == Formula.FLAT:
        cap = _fen(rule.cap_fen)
        reasons.append(("flat", {"amount_fen": cap}))
        return cap, cap, reasons, missing
    if formula == Formula.NONE:
        reasons.append(("no_compensation", {}))
        return 0, 0, reasons, missing
    cap, cap_reasons = _caps(rule, freight)
    if formula == Formula.ACTUAL_VALUE_CAPPED:
        if not claimed:
            missing.append("claimed")
        if rule.freight_multiple is not None and not freight:
            missing.append("freight")
        base = claimed
        reasons.append(("actual_value", {"claimed_fen": claimed}))
    elif formula == Formula.DECLARED_VALUE:
        if not declared:
            missing.append("declared_value")
        base = min(claimed, declared) if claimed else declared
        reasons.append(("declared_value", {"declared_fen": declared, "claimed_fen": claimed}))
        cap = declared if cap is None else min(cap, declared)
    elif formula == Formula.PROPORTIONAL:
        percent = min(100, _fen(claim.damaged_percent)) if claim.damaged_percent is not None \
            else 100
        value = declared if claim.insured and declared else claimed
        if not value:
            missing.append("declared_value" if claim.insured else "claimed")
        if claim.damaged_percent is None:
            missing.append("damaged_percent")
        base = value * percent // 100
        if claimed:
            base = min(base, claimed)
        reasons.append(("proportional", {"value_fen": value, "percent": percent}))
        if claim.insured and declared:
            cap = declared if cap is None else min(cap, declared)
    else:
        return 0, 0, [("unknown_formula", {"formula": formula})], missing
    reasons.extend(cap_reasons)
    amount = base if cap is None else min(base, cap)
    return amount, cap, reasons, missing


def calculate(rules: list[Rule] | tuple[Rule, ...], claim: ClaimInput,
              offer: StandingOffer | None = None) -> Estimate:
    """Estimate the compensation for ``claim`` under ``rules`` and an incident's offer."""
    rule = select_rule(rules, claim.claim_type, claim.insured, claim.service_line)
    offered = offer.amount_for(claim) if offer else None
    if rule is None and offered is None:
        return Estimate(0, 0, Formula.NONE, eligible=False,
                        reasons=(("no_rule", {"claim_type": claim.claim_type}),))
    amount, cap, reasons, missing = (
        _policy_amount(rule, claim) if rule else (0, 0, [], []))
    evidence = list(rule.evidence) if rule else []
    if rule and rule.invoice_above_fen is not None and _fen(claim.claimed_fen) > _fen(
            rule.invoice_above_fen) and "invoice" not in evidence:
        evidence.append("invoice")
        reasons.append(("invoice_needed", {"above_fen": _fen(rule.invoice_above_fen)}))
    applied = False
    if offered is not None and offered > amount:
        amount, applied = offered, True
        cap = offered if cap is None else max(cap, offered)
        reasons.append(("standing_offer", {"amount_fen": offered}))
    amount = max(0, amount)
    if cap is not None:
        amount = min(amount, max(0, cap))
    return Estimate(
        amount_fen=amount, cap_fen=cap,
        formula=rule.formula if rule else "standing_offer", eligible=True, rule=rule,
        reasons=tuple(reasons), evidence=tuple(evidence), offer_applied=applied,
        missing=tuple(dict.fromkeys(missing)))


#: Defaults from DOMAIN.md (all configurable through a new policy version).
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("delay", False, Formula.FREIGHT_REFUND, evidence=()),
    Rule("delay", True, Formula.FREIGHT_REFUND, evidence=()),
    Rule("loss", False, Formula.ACTUAL_VALUE_CAPPED, freight_multiple=7,
         invoice_above_fen=100_000, evidence=("proof_of_value",)),
    Rule("loss", True, Formula.DECLARED_VALUE, invoice_above_fen=100_000,
         evidence=("proof_of_value",)),
    Rule("damage", False, Formula.PROPORTIONAL, freight_multiple=7, invoice_above_fen=100_000,
         evidence=("photo_item", "photo_packaging", "photo_label")),
    Rule("damage", True, Formula.PROPORTIONAL, invoice_above_fen=100_000,
         evidence=("photo_item", "photo_packaging", "photo_label")),
    Rule("wrong_delivery", False, Formula.FREIGHT_REFUND, evidence=()),
)
