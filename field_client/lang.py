"""The language the ``field`` command speaks: the locale of its terminal (``LC_ALL``,
``LC_MESSAGES``, ``LANG``), in the catalogs the laptop app and the office share
(``sync_protocol.i18n``). ``use`` is called once when the command starts; ``_`` then says a
message in that language (``str.format`` placeholders), and English before it.
"""

from __future__ import annotations

import gettext
from typing import Mapping

from sync_protocol import i18n, locales

_translations: gettext.NullTranslations = gettext.NullTranslations()
missing: set[tuple[str, str]] = set()  # what the catalog lacked (the CLI's tests expect none)


def use(environ: Mapping[str, str]) -> str:
    """Speak the language ``environ`` asks for; returns its locale."""
    global _translations
    locale = locales.from_environment(environ)
    _translations = i18n.load_translations(locale, missing)
    return locale


def _(message: str) -> str:
    return _translations.gettext(message)
