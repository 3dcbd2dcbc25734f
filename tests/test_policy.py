"""The compensation calculation: hand-computed cases and hypothesis properties.

Pure: no app, no database."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.cases.policy import (
    DEFAULT_RULES,
    ClaimInput,
    Rule,
    StandingOffer,
    calculate,
    select_rule,
)

YUAN = 100


def test_delay_refunds_the_freight():
    result = calculate(DEFAULT_RULES, ClaimInput("delay", freight_fen=23 * YUAN))
    assert result.amount_fen == 23 * YUAN
    assert result.formula == "freight_refund"
    assert ("freight_refund", {"freight_fen": 2300}) in result.reasons


def test_uninsured_loss_is_the_value_capped_at_seven_times_freight():
    claim = ClaimInput("loss", claimed_fen=500 * YUAN, freight_fen=20 * YUAN)
    result = calculate(DEFAULT_RULES, claim)
    assert result.amount_fen == 140 * YUAN  # 7 x 20
    assert result.cap_fen == 140 * YUAN
    cheap = calculate(DEFAULT_RULES, ClaimInput("loss", claimed_fen=80 * YUAN,
                                                freight_fen=20 * YUAN))
    assert cheap.amount_fen == 80 * YUAN


def test_flat_cap_and_multiple_take_the_lower():
    rules = (Rule("loss", False, "actual_value_capped", freight_multiple=7, cap_fen=300 * YUAN),)
    high_freight = ClaimInput("loss", claimed_fen=2000 * YUAN, freight_fen=100 * YUAN)
    assert calculate(rules, high_freight).amount_fen == 300 * YUAN


def test_insured_loss_pays_up_to_the_declared_value():
    claim = ClaimInput("loss", insured=True, claimed_fen=3000 * YUAN,
                       declared_value_fen=2000 * YUAN, freight_fen=30 * YUAN)
    assert calculate(DEFAULT_RULES, claim).amount_fen == 2000 * YUAN
    lower = ClaimInput("loss", insured=True, claimed_fen=1500 * YUAN,
                       declared_value_fen=2000 * YUAN, freight_fen=30 * YUAN)
    assert calculate(DEFAULT_RULES, lower).amount_fen == 1500 * YUAN


def test_partial_damage_is_proportional():
    insured = ClaimInput("damage", insured=True, declared_value_fen=1000 * YUAN,
                         claimed_fen=1000 * YUAN, damaged_percent=30, freight_fen=20 * YUAN)
    assert calculate(DEFAULT_RULES, insured).amount_fen == 300 * YUAN
    uninsured = ClaimInput("damage", claimed_fen=1000 * YUAN, damaged_percent=50,
                           freight_fen=20 * YUAN)
    # 50% of 1000 = 500, capped at 7 x 20 = 140
    assert calculate(DEFAULT_RULES, uninsured).amount_fen == 140 * YUAN


def test_missing_inputs_are_reported():
    result = calculate(DEFAULT_RULES, ClaimInput("damage", claimed_fen=100 * YUAN))
    assert "damaged_percent" in result.missing
    assert calculate(DEFAULT_RULES, ClaimInput("delay")).missing == ("freight",)


def test_invoice_needed_above_threshold():
    big = ClaimInput("loss", claimed_fen=1500 * YUAN, freight_fen=500 * YUAN)
    assert "invoice" in calculate(DEFAULT_RULES, big).evidence
    small = ClaimInput("loss", claimed_fen=500 * YUAN, freight_fen=500 * YUAN)
    assert "invoice" not in calculate(DEFAULT_RULES, small).evidence


def test_no_rule_means_no_amount():
    result = calculate(DEFAULT_RULES, ClaimInput("complaint_attitude"))
    assert (result.amount_fen, result.eligible) == (0, False)


def test_exact_service_line_beats_wildcard_and_insured_falls_back():
    rules = (Rule("delay", False, "flat", cap_fen=5 * YUAN),
             Rule("delay", False, "flat", service_line="express", cap_fen=9 * YUAN))
    assert select_rule(rules, "delay", False, "express").cap_fen == 9 * YUAN
    assert select_rule(rules, "delay", False, "economy").cap_fen == 5 * YUAN
    assert select_rule(rules, "delay", True, None).cap_fen == 5 * YUAN  # no insured rule


def test_standing_offer_is_a_floor():
    offer = StandingOffer.from_json({"claim_types": ["delay"], "formula": "flat",
                                     "amount_fen": 50 * YUAN})
    result = calculate(DEFAULT_RULES, ClaimInput("delay", freight_fen=12 * YUAN), offer)
    assert result.amount_fen == 50 * YUAN and result.offer_applied
    rich = calculate(DEFAULT_RULES, ClaimInput("delay", freight_fen=80 * YUAN), offer)
    assert rich.amount_fen == 80 * YUAN and not rich.offer_applied
    other = calculate(DEFAULT_RULES, ClaimInput("loss", claimed_fen=1, freight_fen=1), offer)
    assert not other.offer_applied


def test_standing_offer_json_is_checked():
    assert StandingOffer.from_json(None) is None
    assert StandingOffer.from_json({"formula": "bogus"}) is None
    assert StandingOffer.from_json({"formula": "flat", "amount_fen": "x"}) is None
    offer = StandingOffer.from_json({"formula": "freight_multiple", "multiple": 2})
    assert offer.amount_for(ClaimInput("delay", freight_fen=10)) == 20


amounts = st.one_of(st.none(), st.integers(min_value=-10**6, max_value=10**12))
claims = st.builds(
    ClaimInput,
    claim_type=st.sampled_from(["delay", "loss", "damage", "wrong_delivery", "other"]),
    insured=st.booleans(),
    service_line=st.sampled_from([None, "standard", "express"]),
    claimed_fen=amounts, declared_value_fen=amounts, freight_fen=amounts,
    damaged_percent=st.one_of(st.none(), st.integers(min_value=-50, max_value=500)),
)
rules = st.lists(st.builds(
    Rule,
    claim_type=st.sampled_from(["delay", "loss", "damage", "wrong_delivery"]),
    insured=st.booleans(),
    formula=st.sampled_from(["freight_refund", "actual_value_capped", "declared_value",
                             "proportional", "flat", "none"]),
    service_line=st.sampled_from(["*", "express"]),
    freight_multiple=st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
    cap_fen=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
), max_size=8).map(tuple)
offers = st.one_of(st.none(), st.builds(
    StandingOffer, claim_types=st.just(("delay", "loss")),
    formula=st.sampled_from(["freight_refund", "flat", "freight_multiple"]),
    amount_fen=st.integers(min_value=0, max_value=10**7),
    multiple=st.integers(min_value=0, max_value=5)))


@settings(max_examples=400, deadline=None)
@given(rules, claims, offers)
def test_never_negative_never_above_caps_and_deterministic(rule_set, claim, offer):
    first = calculate(rule_set, claim, offer)
    assert first.amount_fen >= 0
    if first.cap_fen is not None:
        assert first.amount_fen <= first.cap_fen
    rule = first.rule
    if rule is not None and not first.offer_applied:
        if rule.cap_fen is not None and rule.formula != "flat":
            assert first.amount_fen <= rule.cap_fen
        freight = max(0, claim.freight_fen or 0)
        if rule.freight_multiple is not None and rule.formula in (
                "actual_value_capped", "proportional"):
            assert first.amount_fen <= freight * rule.freight_multiple
        if rule.formula in ("actual_value_capped", "proportional") and (claim.claimed_fen or 0) > 0:
            assert first.amount_fen <= claim.claimed_fen
        if rule.formula == "freight_refund":
            assert first.amount_fen <= freight
        if rule.formula == "declared_value":
            assert first.amount_fen <= max(0, claim.declared_value_fen or 0)
    assert calculate(rule_set, claim, offer) == first


@settings(max_examples=200, deadline=None)
@given(claims)
def test_default_rules_never_exceed_seven_times_freight_when_uninsured(claim):
    if claim.insured or claim.claim_type not in ("loss", "damage"):
        return
    result = calculate(DEFAULT_RULES, claim)
    assert result.amount_fen <= 7 * max(0, claim.freight_fen or 0)
