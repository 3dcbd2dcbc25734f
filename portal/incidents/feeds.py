"""Atom feeds (RFC 4287): the whole site and one incident, in the reader's language."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from flask import current_app
from flask_babel import gettext as _

from portal.content import resolve
from portal.incidents import queries
from portal.incidents.labels import STATE_LABELS
from portal.incidents.markdown import render_markdown
from portal.incidents.models import Incident, IncidentUpdate, UpdateStatus
from portal.templating import iso_time

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"


def _base() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _feed(feed_id: str, title: str, self_url: str, alternate: str, updates, language: str):
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {XML_LANG: language.replace("_", "-")})
    _sub(root, "id", feed_id)
    _sub(root, "title", title)
    _sub(root, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(root, "link", rel="alternate", href=alternate, type="text/html")
    author = _sub(root, "author")
    _sub(author, "name", _("Express Parcel Incident Portal"))
    stamps = [u.corrected_at or u.withdrawn_at or u.published_at for u in updates]
    newest = max((s for s in stamps if s), default=None)
    _sub(root, "updated", iso_time(newest) if newest else "1970-01-01T00:00:00Z")
    for update in updates:
        _entry(root, update, language)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _entry(root: ET.Element, update: IncidentUpdate, language: str) -> None:
    incident = update.incident
    url = f"{_base()}/incidents/{incident.reference}?lang={language}"
    entry = _sub(root, "entry")
    _sub(entry, "id", f"{_base()}/incidents/{incident.reference}#update-{update.id}")
    title = resolve(incident.title, language).text
    state = str(STATE_LABELS.get(update.state, update.state))
    if update.status == UpdateStatus.WITHDRAWN:
        state = _("Withdrawn")
    _sub(entry, "title", f"{title} — {state}")
    _sub(entry, "link", rel="alternate", href=url, type="text/html")
    _sub(entry, "published", iso_time(update.published_at))
    _sub(entry, "updated", iso_time(update.corrected_at or update.withdrawn_at
                                    or update.published_at))
    if update.status == UpdateStatus.WITHDRAWN:
        html = "<p>" + _("This update was withdrawn.") + "</p>"
    else:
        html = str(render_markdown(resolve(update.body, language).text))
    _sub(entry, "content", html, type="html")


def site_feed(language: str) -> str:
    """Every public update, newest first."""
    updates = queries.recent_public_updates(
        int(current_app.config.get("INCIDENT_FEED_ENTRIES", 50)))
    return _feed(f"{_base()}/feed.atom", _("Service status") + " · "
                 + _("Express Parcel Incident Portal"), f"{_base()}/feed.atom",
                 f"{_base()}/?lang={language}", updates, language)


def incident_feed(incident: Incident, language: str) -> str:
    """One incident's public updates, newest first."""
    ref = incident.reference
    return _feed(f"{_base()}/incidents/{ref}/feed.atom",
                 resolve(incident.title, language).text,
                 f"{_base()}/incidents/{ref}/feed.atom",
                 f"{_base()}/incidents/{ref}?lang={language}", queries.timeline(incident),
                 language)
