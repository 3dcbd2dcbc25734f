"""Update bodies: Markdown rendered with ``markdown`` and sanitised with ``nh3``.

Raw HTML typed by staff is shown as text (``<`` is escaped before Markdown runs), and the
output is cleaned with an allow-list, so a ``<script>`` in an update is harmless.
"""

from __future__ import annotations

from html import unescape

import markdown as md
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "code", "pre",
                "blockquote", "h3", "h4", "hr"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


def render_markdown(source: str | None) -> Markup:
    """Return sanitised HTML for a Markdown ``source`` (raw HTML is shown as text)."""
    if not source:
        return Markup("")
    escaped = source.replace("&", "&amp;").replace("<", "&lt;")
    html = md.markdown(escaped, extensions=["sane_lists"], output_format="html")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                      url_schemes=URL_SCHEMES, link_rel="noopener nofollow")
    return Markup(clean)  # noqa: S704 - sanitised by nh3 above


def plain_text(source: str | None) -> str:
    """A plain-text version of a Markdown body for SMS, feeds' summaries and the API."""
    if not source:
        return ""
    html = md.markdown(source.replace("&", "&amp;").replace("<", "&lt;"))
    return unescape(nh3.clean(html, tags=set())).strip()
