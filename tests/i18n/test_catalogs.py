"""The shared message catalogs (``sync_protocol/locale``) are complete and compiled: every
message of the laptop app, the office pages and the ``field`` CLI, in the code and the
templates, is translated into Simplified Chinese, and the committed .mo files are the .po files
compiled."""

from __future__ import annotations

import gettext
import typing
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from server import policy
from sync_protocol import locales

ROOT = Path(__file__).resolve().parents[2]

TRANSLATED = [loc for loc in locales.SUPPORTED if loc != locales.SOURCE]


def catalog(locale: str):  # type: ignore[no-untyped-def]
    path = locales.CATALOG_DIR / locale / "LC_MESSAGES" / f"{locales.DOMAIN}.po"
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def extracted() -> set[str]:
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map, options_map)
    }


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_in_the_code_is_translated(locale: str) -> None:
    cat = catalog(locale)
    held = {m.id if isinstance(m.id, str) else m.id[0]: m for m in cat if m.id}
    missing = sorted(extracted() - set(held))
    assert not missing, f"run `make catalogs` and translate: {missing[:10]}"
    untranslated = sorted(
        k for k, m in held.items() if m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string))
    )
    assert not untranslated, untranslated[:10]
    problems = [(m.id, errors) for m, errors in cat.check()]
    assert not problems, problems[:5]  # placeholders agree with the msgid


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_committed_mo_is_the_po_compiled(locale: str) -> None:
    directory = locales.CATALOG_DIR / locale / "LC_MESSAGES"
    with open(directory / f"{locales.DOMAIN}.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    expected = {}
    for m in catalog(locale):
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, tuple):
            for n, text in enumerate(m.string):
                expected[(m.id[0], n)] = text
        else:
            expected[m.id] = m.string
    got = {k: v for k, v in compiled.items() if k != ""}
    assert got == expected, "the .mo is stale: run `make catalogs` and commit it"


def test_negotiation_defaults_to_the_setting() -> None:
    assert locales.negotiate(None, "zh_Hans") == "zh_Hans"
    assert locales.negotiate("de", "en") == "en"
    assert locales.negotiate("en;q=0.5, zh-CN;q=0.9", "en") == "zh_Hans"
    assert locales.negotiate("zh-CN;q=0, en", "zh_Hans") == "en"


def test_the_office_setting_names_exactly_the_languages_spoken() -> None:
    allowed = typing.get_args(typing.get_type_hints(policy.OfficeConfig)["language"])
    assert set(allowed) == set(locales.SUPPORTED)


def test_a_language_fieldsync_does_not_speak_is_refused_in_config_toml() -> None:
    with pytest.raises(policy.ConfigError, match="language"):
        policy.parse('[office]\nlanguage = "fr"\n')
    assert policy.parse('[office]\nlanguage = "zh_Hans"\n').office.language == "zh_Hans"
