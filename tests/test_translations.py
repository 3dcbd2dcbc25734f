"""Every user-facing string is translated into Simplified and Traditional Chinese.

Extracts the strings from the code and templates as ``flask i18n update`` does and checks
each one has a translation in both Chinese catalogs (English msgids serve as English).
A new string without a translation fails here: run ``flask i18n update`` and translate.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "portal" / "translations"


def _catalog(language: str):
    with (CATALOGS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."],
        check=True, cwd=ROOT)
    with pot.open("rb") as handle:
        return [message.id for message in read_po(handle) if message.id]


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_every_string_in_the_code_is_translated(extracted, language):
    catalog = _catalog(language)
    missing = []
    for msgid in extracted:
        message = catalog.get(msgid)
        strings = message.string if message is not None else ""
        translated = any(strings) if isinstance(strings, tuple) else bool(strings)
        if message is None or not translated or "fuzzy" in message.flags:
            missing.append(msgid if isinstance(msgid, str) else msgid[0])
    assert missing == [], f"{len(missing)} untranslated in {language}: {missing[:10]}"


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_placeholders_survive_translation(language):
    import re

    placeholder = re.compile(r"%\((\w+)\)[sd]")
    wrong = []
    for message in _catalog(language):
        if not message.id or not message.string or isinstance(message.id, tuple):
            continue
        if set(placeholder.findall(message.id)) != set(placeholder.findall(message.string)):
            wrong.append(message.id)
    assert wrong == []


def test_the_extraction_finds_strings():
    # Guards the test above against an extraction that silently finds nothing.
    assert len(_catalog("zh_Hans")) > 500
