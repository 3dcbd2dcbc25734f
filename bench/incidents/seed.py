"""Seed the benchmark database: 200 published incidents with updates in three languages.

Run by ``run.py`` with DATABASE_URL pointing at the benchmark database (already migrated).
"""

from __future__ import annotations

import random
from datetime import timedelta

from portal import create_app
from portal.content import make_translated
from portal.db import utcnow
from portal.extensions import db
from portal.incidents import services
from portal.staff.services import create_staff

REGIONS = [("广东省", "Guangdong"), ("福建省", "Fujian"), ("湖北省", "Hubei"),
           ("浙江省", "Zhejiang"), ("江苏省", "Jiangsu"), ("四川省", "Sichuan")]
COUNT = 200


def main() -> None:
    """Create one commander and ``COUNT`` incidents; print the newest active reference."""
    app = create_app({"PASSWORD_HASH_FAST": True})
    rng = random.Random(7)
    with app.app_context():
        actor = create_staff("bench-commander@example.com", "commander",
                             "bench-password-123456")
        now = utcnow()
        newest = ""
        for number in range(COUNT):
            region = rng.choice(REGIONS)
            incident = services.declare(
                actor, title=make_translated(f"{region[0]}派送延误 #{number}", "",
                                             f"Delivery delays in {region[1]} #{number}"),
                summary=make_translated("暴雨导致分拨中心暂停作业，预计延误一至两天。" * 2, "",
                                        "Heavy rain stopped the hub; expect one to two days "
                                        "of delay. " * 2),
                type=rng.choice(["weather", "fire", "system_failure", "traffic_accident"]),
                severity=rng.choice(["minor", "major", "critical"]),
                areas=[services.AreaInput("region", *region),
                       services.AreaInput("hub", f"{region[0]}分拨中心", f"{region[1]} hub")],
                started_at=now - timedelta(hours=7 * (COUNT - number)))
            services.publish(actor, incident, notify=False)
            for state in ("identified", "monitoring"):
                update = services.draft_update(actor, incident, state=state, body=make_translated(
                    f"进展：{state}。**已增派人手**，请留意短信通知。", "",
                    f"Progress: {state}. **More staff are on site**; watch for SMS."))
                services.publish_update(actor, update)
            if number < COUNT - 12:  # the newest twelve stay active
                services.resolve(actor, incident, notify=False)
                incident.resolved_at = incident.started_at + timedelta(hours=3)
            else:
                newest = incident.reference
        db.session.commit()
    print(newest)


if __name__ == "__main__":
    main()
