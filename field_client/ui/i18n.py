"""The app's pages in Simplified Chinese and English: the shared catalogs and formats of
``sync_protocol.i18n`` (the office pages and the ``field`` CLI use the same), over this app's
templates, in the laptop's time zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sync_protocol import i18n, kind_of, locales, sentences

from .. import __version__

TEMPLATES = Path(__file__).resolve().parent / "templates"
Formats = i18n.Formats


class Catalogs(i18n.Catalogs):
    """The laptop app's catalogs: its templates, its version and the event kinds' names."""

    def __init__(
        self, default: str = locales.DEFAULT, templates: Path = TEMPLATES, tz: dt.tzinfo | None = None
    ) -> None:
        super().__init__(
            templates,
            default,
            tz,
            extra_globals={"version": __version__},
            extra_filters={"kind": kind_of},
            recover=sentences.recover,
        )
