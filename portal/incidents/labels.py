"""Translated labels for incident types, severities, states and area kinds."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATE_LABELS = {
    "investigating": _l("Investigating"),
    "identified": _l("Identified"),
    "monitoring": _l("Monitoring"),
    "resolved": _l("Resolved"),
}
SEVERITY_LABELS = {
    "minor": _l("Minor disruption"),
    "major": _l("Major disruption"),
    "critical": _l("Critical disruption"),
}
TYPE_LABELS = {
    "weather": _l("Severe weather"),
    "fire": _l("Fire"),
    "traffic_accident": _l("Traffic accident"),
    "equipment_failure": _l("Equipment failure"),
    "system_failure": _l("System failure"),
    "public_health": _l("Public-health measure"),
    "other": _l("Other"),
}
AREA_KIND_LABELS = {
    "region": _l("Provinces and cities"),
    "hub": _l("Hubs and sorting centres"),
    "service": _l("Service lines"),
}
VISIBILITY_LABELS = {
    "draft": _l("Draft (not public)"),
    "published": _l("Published"),
    "drill": _l("Drill (staff only)"),
}
UPDATE_STATUS_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Published"),
    "withdrawn": _l("Withdrawn"),
}
ERROR_MESSAGES = {
    "not_draft": _l("Only a draft can be changed or published this way."),
    "drill_cannot_publish": _l("A drill is never published to customers."),
    "not_published": _l("Publish the incident first; this update is not public."),
    "resolved": _l("The incident is already resolved."),
    "empty": _l("Please write something first."),
}


def template_globals() -> dict:
    """Labels for templates."""
    return {
        "STATE_LABELS": STATE_LABELS, "SEVERITY_LABELS": SEVERITY_LABELS,
        "TYPE_LABELS": TYPE_LABELS, "AREA_KIND_LABELS": AREA_KIND_LABELS,
        "VISIBILITY_LABELS": VISIBILITY_LABELS, "UPDATE_STATUS_LABELS": UPDATE_STATUS_LABELS,
    }
