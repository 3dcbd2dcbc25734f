"""Demo data of the claims feature: the default policy version and two demo cases (one
delay claim with an offer, one complaint), added only when no case exists yet."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db


def seed_demo_cases() -> str:
    """Add the policy in force and two demo cases; return a one-line summary."""
    from portal.cases import lifecycle
    from portal.cases.models import Case
    from portal.cases.policy_admin import ensure_default_version
    from portal.cases.services import Submission, create_case
    from portal.staff.models import StaffUser

    version = ensure_default_version()
    if db.session.scalar(select(func.count()).select_from(Case)):
        return f"Claims: policy '{version.name}' in force; demo cases already present"
    claim = create_case(Submission(
        kind="claim", type="delay", customer_name="演示 客户", phone_e164="+8613800138000",
        email="customer@demo.example", language="zh_Hans", tracking_number="SF7444400048449",
        freight_fen=2350, description="包裹延误五天，物流信息一直没有更新。", consent=True,
        submission_token="demo-claim-1"))  # noqa: S106 - an idempotency token, not a secret
    complaint = create_case(Submission(
        kind="complaint", type="complaint_not_to_door", customer_name="Demo Customer",
        phone_e164="+85251234567", email="hk@demo.example", language="en",
        tracking_number="JT0006968326954", description="The courier left the parcel at the "
        "gate and marked it delivered.", consent=True,
        submission_token="demo-complaint-1"))  # noqa: S106 - not a secret
    agent = db.session.scalar(select(StaffUser).where(StaffUser.email == "agent@demo.example"))
    if agent is not None:
        lifecycle.offer(claim, 2350, agent, "Freight refund under the delay rule")
    return (f"Claims: policy '{version.name}' in force; demo cases {claim.reference} "
            f"(last 4 digits 8000) and {complaint.reference} (4567): /claims/<reference>")
