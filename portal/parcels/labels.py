"""Translated labels for situations, modes and batch states."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

SITUATION_LABELS = {
    "delayed": _l("Delayed"),
    "held": _l("Held"),
    "rerouted": _l("Rerouted"),
    "damaged": _l("Damaged"),
    "lost": _l("Lost"),
    "returned": _l("Returned to sender"),
    "delivered": _l("Delivered"),
    None: _l("Affected (situation not yet known)"),
}

MODE_LABELS = {
    "add": _l("Add or update: the rows are added to the incident's list"),
    "replace": _l("Replace: the file is the complete list; parcels not in it are marked as "
                  "no longer affected"),
}

STATUS_LABELS = {
    "pending": _l("Waiting to start"),
    "running": _l("Importing"),
    "done": _l("Done"),
    "failed": _l("Failed"),
    "undone": _l("Undone"),
}

HISTORY_LABELS = {
    "updated": _l("Updated"),
    "deactivated": _l("No longer affected"),
    "reactivated": _l("Affected again"),
}


def template_globals() -> dict:
    """Globals for the parcel templates."""
    return {"PARCEL_SITUATION_LABELS": SITUATION_LABELS, "PARCEL_STATUS_LABELS": STATUS_LABELS,
            "PARCEL_MODE_LABELS": MODE_LABELS}
