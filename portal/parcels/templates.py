"""The downloadable import template."""

from __future__ import annotations

import csv
import io

from portal.parcels.importer.columns import TEMPLATE_EXAMPLE, TEMPLATE_HEADERS


def template_csv(chinese: bool = False) -> bytes:
    """Header row (English or Chinese names) and one example row, UTF-8 with BOM."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([zh if chinese else en for en, zh in TEMPLATE_HEADERS])
    writer.writerow(TEMPLATE_EXAMPLE)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
