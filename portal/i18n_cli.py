"""``flask i18n ...``: keep the three translation catalogs in step with the code.

``flask i18n update`` extracts every marked string from ``portal/`` and ``templates/``,
merges it into ``portal/translations/{zh_Hans,zh_Hant,en}``, fills the Traditional
catalog from the Simplified one with OpenCC where nobody has translated it yet (marked
``#, fuzzy``-free but with a ``machine`` flag comment), and compiles all three.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "portal" / "translations"
POT = TRANSLATIONS / "messages.pot"

i18n_cli = AppGroup("i18n", help="Translation catalogs (zh_Hans, zh_Hant, en).")


def _pybabel(*args: str) -> None:
    command = [sys.executable, "-m", "babel.messages.frontend", *args]
    subprocess.run(command, check=True, cwd=ROOT)  # noqa: S603 - fixed argv


def fill_traditional_from_simplified(conversion: str = "s2t") -> int:
    """Fill empty zh_Hant entries by converting the zh_Hans translation; return the count."""
    from babel.messages.pofile import read_po, write_po

    from portal.content import to_traditional

    hans_path = TRANSLATIONS / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    hant_path = TRANSLATIONS / "zh_Hant" / "LC_MESSAGES" / "messages.po"
    with hans_path.open("rb") as handle:
        hans = read_po(handle, locale="zh_Hans")
    with hant_path.open("rb") as handle:
        hant = read_po(handle, locale="zh_Hant")
    filled = 0
    for message in hant:
        translated = (any(message.string) if isinstance(message.string, tuple)
                      else bool(message.string))
        if not message.id or (translated and "fuzzy" not in message.flags):
            continue
        source = hans.get(message.id, message.context)
        if source is None or not source.string or "fuzzy" in source.flags:
            continue
        if isinstance(source.string, tuple):
            message.string = tuple(to_traditional(s, conversion) for s in source.string)
        else:
            message.string = to_traditional(source.string, conversion)
        message.flags.discard("fuzzy")
        if "opencc" not in message.auto_comments:
            message.auto_comments.append("opencc")
        filled += 1
    with hant_path.open("wb") as handle:
        write_po(handle, hant, width=76)
    return filled


@i18n_cli.command("update")
def update_command() -> None:
    """Extract, merge, fill zh_Hant with OpenCC, compile."""
    _pybabel("extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "--no-location",
             "--sort-output", "-o", str(POT), ".")
    for language in ("zh_Hans", "zh_Hant", "en"):
        catalog = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
        if catalog.exists():
            _pybabel("update", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", language,
                     "--no-fuzzy-matching", "--ignore-obsolete")
        else:
            _pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", language)
    filled = fill_traditional_from_simplified()
    _pybabel("compile", "-d", str(TRANSLATIONS))
    click.echo(f"catalogs updated; {filled} Traditional entries converted from Simplified")


@i18n_cli.command("missing")
def missing_command() -> None:
    """List msgids with no translation, per language; exit 1 if any."""
    from babel.messages.pofile import read_po

    missing_total = 0
    for language in ("zh_Hans", "zh_Hant"):
        path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        missing = [m.id for m in catalog if m.id and (not m.string or "fuzzy" in m.flags)]
        missing_total += len(missing)
        for msgid in missing:
            click.echo(f"{language}: {msgid if isinstance(msgid, str) else msgid[0]}")
    if missing_total:
        raise SystemExit(1)
