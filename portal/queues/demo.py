"""Demo data for the queues: a Mainland business calendar, queues with members and leads,
routing rules, SLA policies, keywords, canned replies and a few routed cases."""

from __future__ import annotations

from sqlalchemy import select

from portal.content import make_translated
from portal.extensions import db

QUEUES = [
    # slug, zh_Hans, en, strategy, fallback, escalation, position
    ("high-value", "高额理赔", "High-value claims", "manual", False, False, 10),
    ("postal-12305", "邮政管理局转办", "Postal authority forwards", "manual", False, False, 20),
    ("loss-damage", "丢失与破损", "Loss and damage", "least_loaded", False, False, 30),
    ("delay-claims", "延误理赔", "Delay claims", "round_robin", False, False, 40),
    ("complaints", "服务投诉", "Service complaints", "manual", False, False, 50),
    ("escalations", "升级处理", "Escalations", "manual", False, True, 60),
    ("general", "综合", "General", "manual", True, False, 90),
]
RULES = [
    ("High value", 10, {"amount_min_fen": 200000}, {"queue": "high-value", "priority": 2,
                                                    "tags": ["high-value"]}),
    ("Postal authority", 20, {"keywords": ["12305", "邮政管理局"]},
     {"queue": "postal-12305", "priority": 1, "tags": ["12305"]}),
    ("Loss and damage", 30, {"type": ["loss", "damage", "wrong_delivery"]},
     {"queue": "loss-damage", "priority": 3}),
    ("Delay", 40, {"type": ["delay"]}, {"queue": "delay-claims", "priority": 3}),
    ("Complaints", 50, {"kind": ["complaint"]}, {"queue": "complaints", "priority": 3}),
]
CANNED = [
    ("received", "Received / 已收到",
     "{name}您好，您的案件{reference}已由{agent}受理，我们会尽快处理。",
     "Dear {name}, {agent} is handling your case {reference}; we will be in touch soon."),
    ("need-photos", "Photos needed / 需要照片",
     "{name}您好，请在案件{reference}页面上传外箱和物品的照片。",
     "Dear {name}, please upload photos of the box and the item on case {reference}."),
    ("refund", "Freight refunded / 运费已退",
     "{name}您好，运单{tracking_number}的运费已退回，案件{reference}已处理完毕。",
     "Dear {name}, the freight of {tracking_number} has been refunded; case {reference} is "
     "resolved."),
]
CASES = [
    ("claim", "delay", "包裹晚了五天，没有任何通知。", None),
    ("claim", "loss", "包裹丢了，里面是一台相机，价值3200元。", 320000),
    ("claim", "damage", "The box arrived crushed and the vase is broken.", 45000),
    ("complaint", "complaint_attitude", "快递员态度很差，我要打12305投诉。", None),
    ("complaint", "complaint_not_to_door", "Not delivered to my door again. My lawyer will "
     "hear about this.", None),
    ("claim", "delay", "第三次问了，还是没人回复！", None),
]


def seed_demo_queues() -> str:
    """Add the queues' demo data (idempotent)."""
    from portal.cases import services
    from portal.queues import admin, calendars, signals
    from portal.queues.models import BusinessCalendar, CannedReply, Queue, RoutingRule
    from portal.staff.models import StaffUser

    if db.session.scalar(select(Queue.id).limit(1)) is not None:
        return "Queues: demo data already present"
    users = {u.email: u for u in db.session.scalars(select(StaffUser))}
    agent, boss = users.get("agent@demo.example"), users.get("supervisor@demo.example")
    calendar = db.session.scalar(select(BusinessCalendar).where(
        BusinessCalendar.name == "Mainland China")) or calendars.create_calendar(
        "Mainland China", {str(d): [["09:00", "18:00"]] for d in range(5)} | {
            "5": [["10:00", "16:00"]]})
    members = [u.email for u in (agent, boss) if u is not None]
    for slug, zh, en, strategy, fallback, escalation, position in QUEUES:
        queue = admin.save_queue(None, slug=slug, name_zh_hans=zh, name_en=en,
                                 strategy=strategy, calendar_id=calendar.id,
                                 lead_id=boss.id if boss else None, member_emails=members,
                                 position=position, is_fallback=fallback,
                                 is_escalation=escalation, actor=boss)
        for priority, first, resolution in ((1, 60, 480), (2, 120, 960), (3, 240, 1440)):
            admin.save_sla(queue, priority, first, resolution, 80,
                           ["notify_lead", "raise_priority"], boss)
    for name, position, conditions, actions in RULES:
        db.session.add(RoutingRule(name=name, position=position, enabled=True,
                                   conditions=conditions, actions=actions))
    for slug, title, zh, en in CANNED:
        db.session.add(CannedReply(slug=slug, title=title, body=make_translated(zh, "", en)))
    signals.ensure_defaults()
    if agent is not None:
        from portal.queues.assignment import set_availability

        set_availability(agent.id, True, agent)
    db.session.flush()
    for i, (kind, case_type, text, amount) in enumerate(CASES):
        services.create_case(services.Submission(
            kind=kind, type=case_type, customer_name=["王芳", "李雷", "Chan Tai Man"][i % 3],
            phone_e164=f"+861380013{8000 + i:04d}", description=text,
            submission_token=services.new_submission_token(),
            email=f"customer{i}@demo.example", language="en" if text.isascii() else "zh_Hans",
            tracking_number=f"SF{7444400048000 + i}", claimed_fen=amount, freight_fen=2300,
            consent=True))
    from portal.queues.routing import route_unrouted

    db.session.flush()
    route_unrouted()
    return (f"Queues: {len(QUEUES)} queues, {len(RULES)} routing rules, {len(CANNED)} canned "
            f"replies, {len(CASES)} routed demo cases; /staff/queues")
