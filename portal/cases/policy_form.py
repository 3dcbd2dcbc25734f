"""The administrator's policy form: one rule per line, parsed into ``RuleInput`` values.

Line format (comma separated): ``claim_type, insured (yes/no), service line (* = any),
formula, N x freight cap, flat cap in yuan, invoice needed above (yuan), evidence codes
separated by spaces``. Empty values are written as ``-``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.cases.forms import parse_yuan
from portal.cases.models import Formula
from portal.cases.policy_admin import RuleInput
from portal.forms import PortalForm


class PolicyForm(PortalForm):
    """A new policy version."""

    name = StringField(_l("Version name"), validators=[DataRequired(), Length(max=80)])
    effective_on = DateField(_l("Effective from (at least 10 days ahead unless force majeure)"),
                             validators=[DataRequired()])
    force_majeure = BooleanField(_l("Force-majeure measure (may take effect at once)"))
    summary_zh_hans = TextAreaField(_l("Summary (Simplified Chinese)"))
    summary_zh_hant = TextAreaField(_l("Summary (Traditional; empty = converted)"))
    summary_en = TextAreaField(_l("Summary (English)"))
    rules = TextAreaField(_l("Rules, one per line"), validators=[DataRequired()])


def _yuan_text(fen: int | None) -> str:
    if fen is None:
        return "-"
    return f"{fen // 100}" if fen % 100 == 0 else f"{fen / 100:.2f}"


def rules_text(rules: list[RuleInput]) -> str:
    """The rules as editable lines."""
    lines = []
    for r in rules:
        lines.append(", ".join([
            r.claim_type, "yes" if r.insured else "no", r.service_line or "*", r.formula,
            "-" if r.freight_multiple is None else str(r.freight_multiple),
            _yuan_text(r.cap_fen), _yuan_text(r.invoice_above_fen),
            " ".join(r.evidence) or "-"]))
    return "\n".join(lines)


def _optional_int(text: str) -> int | None:
    return None if text in ("", "-") else int(text)


def _optional_fen(text: str) -> int | None:
    return None if text in ("", "-") else parse_yuan(text)


def parse_rules(text: str) -> list[RuleInput]:
    """Parse the lines; raises ValueError naming the line that is wrong."""
    rules = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 8:
            raise ValueError(f"line {number}: 8 values expected, got {len(parts)}")
        claim_type, insured, service, formula, multiple, cap, invoice, evidence = parts
        if formula not in set(Formula):
            raise ValueError(f"line {number}: unknown formula {formula!r}")
        if insured.lower() not in ("yes", "no"):
            raise ValueError(f"line {number}: insured must be yes or no")
        try:
            rules.append(RuleInput(
                claim_type=claim_type, insured=insured.lower() == "yes",
                service_line=service or "*", formula=formula,
                freight_multiple=_optional_int(multiple), cap_fen=_optional_fen(cap),
                invoice_above_fen=_optional_fen(invoice),
                evidence=tuple(e for e in evidence.split() if e != "-")))
        except ValueError as error:
            raise ValueError(f"line {number}: {error}") from error
    return rules
