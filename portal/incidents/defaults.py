"""Statuspage's standard wording per state, in three languages.

Migration 0002 seeds the ``incident_update_template`` table with the same texts (a
migration never imports application code, so it keeps its own copy). This copy is the
fallback when the table has no template for a state, and what ``flask incidents
seed-templates`` restores.
"""

from __future__ import annotations

DEFAULT_TEMPLATES: dict[str, tuple[str, dict]] = {
    "investigating": ("Investigating", {
        "zh_Hans": "我们正在调查此问题，稍后将发布最新进展。",
        "zh_Hant": "我們正在調查此問題，稍後將發佈最新進展。",
        "en": "We are currently investigating this issue.", "auto": []}),
    "identified": ("Identified", {
        "zh_Hans": "问题已查明，我们正在实施修复。",
        "zh_Hant": "問題已查明，我們正在實施修復。",
        "en": "The issue has been identified and a fix is being implemented.", "auto": []}),
    "monitoring": ("Monitoring", {
        "zh_Hans": "修复措施已实施，我们正在监测效果。",
        "zh_Hant": "修復措施已實施，我們正在監測效果。",
        "en": "A fix has been implemented and we are monitoring the results.", "auto": []}),
    "resolved": ("Resolved", {
        "zh_Hans": "此事件已解决。",
        "zh_Hant": "此事件已解決。",
        "en": "This incident has been resolved.", "auto": []}),
}
