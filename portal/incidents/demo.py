"""Demo incidents for ``flask demo seed``: one active typhoon with updates, one resolved
system failure, one drill; texts in three languages. Re-running adds nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.content import make_translated
from portal.db import utcnow
from portal.extensions import db
from portal.incidents import services
from portal.incidents.models import Incident
from portal.staff.models import Role, StaffUser


def _staff(role: Role) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.role == role).limit(1))


def seed_demo_incidents() -> str:
    """Create the demo incidents unless some exist; return a one-line summary."""
    if db.session.scalar(select(Incident.id).limit(1)) is not None:
        return "Incidents: demo incidents already present"
    commander, responder = _staff(Role.COMMANDER), _staff(Role.RESPONDER)
    if commander is None:
        return "Incidents: no commander account, demo incidents skipped"
    responder = responder or commander
    now = utcnow()
    typhoon = services.declare(
        commander,
        title=make_translated("台风“海燕”影响广东、福建派送", "颱風「海燕」影響廣東、福建派送",
                              "Typhoon Haiyan delays deliveries in Guangdong and Fujian"),
        summary=make_translated(
            "受台风影响，深圳、厦门分拨中心暂停作业，广东、福建两省派送预计延误 1-2 天。",
            "", "Because of the typhoon the Shenzhen and Xiamen hubs have stopped work; "
                "deliveries in Guangdong and Fujian are expected to be 1-2 days late."),
        type="weather", severity="critical",
        areas=[services.AreaInput("region", "广东省", "Guangdong"),
               services.AreaInput("region", "福建省", "Fujian"),
               services.AreaInput("hub", "深圳分拨中心", "Shenzhen hub"),
               services.AreaInput("hub", "厦门分拨中心", "Xiamen hub"),
               services.AreaInput("service", "标准快递", "Standard express")],
        started_at=now - timedelta(hours=5), expected_recovery_at=now + timedelta(days=1),
        standing_offer=make_translated("受影响的运单免收本次运费。", "",
                                       "Affected shipments are free of charge."),
        standing_offer_policy={"kind": "fee_waiver", "applies_to": "delay"})
    services.publish(commander, typhoon, notify=False)
    update = services.draft_update(responder, typhoon, state="identified", body=make_translated(
        "深圳分拨中心因停电暂停作业，**已启用备用发电**，预计今晚恢复部分处理能力。", "",
        "The Shenzhen hub lost power; **backup generators are running** and part of the "
        "capacity should be back tonight."))
    services.publish_update(commander, update)
    services.add_note(responder, typhoon, "现场：3 号分拣线积水，已调派抽水设备。")

    outage = services.declare(
        commander,
        title=make_translated("运单查询系统故障", "運單查詢系統故障",
                              "Tracking look-up outage"),
        summary=make_translated("运单查询接口超时，部分客户无法查询物流信息。", "",
                                "The tracking look-up timed out for some customers."),
        type="system_failure", severity="minor",
        areas=[services.AreaInput("service", "运单查询", "Tracking")],
        started_at=now - timedelta(days=3))
    services.publish(commander, outage, notify=False)
    services.resolve(commander, outage, notify=False)

    services.declare(
        commander, title=make_translated("演练：华东分拨中心火警", "", "Drill: fire alarm at "
                                         "the East China hub"),
        summary=make_translated("应急演练，不对外公开。", "", "Emergency drill, not public."),
        type="fire", severity="major",
        areas=[services.AreaInput("hub", "华东分拨中心", "East China hub")], drill=True)
    db.session.flush()
    return (f"Incidents: {typhoon.reference} (active, critical), {outage.reference} "
            "(resolved) and a drill; public site at /")
