"""The app's pages in Simplified Chinese and English: Babel catalogs, Jinja2's i18n extension,
and dates, times and money formatted for the reader's locale.

One Jinja2 environment per locale, each with its translations installed (``newstyle`` gettext:
``{{ _('Backup of %(scope)s', scope=...) }}`` escapes the values it formats), so a request only
picks an environment and nothing is switched per thread. The catalogs are the shared ones named
by ``sync_protocol.locales``. A message the catalog lacks is shown in English and remembered in
``Catalogs.missing``: the catalog test renders every page in every language and expects it empty.
"""

from __future__ import annotations

import datetime as dt
import gettext
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale
from babel.dates import format_date, format_skeleton, format_timedelta
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from sync_protocol import kind_of, locales

from .. import __version__
from .names import names

TEMPLATES = Path(__file__).resolve().parent / "templates"


class _Missing(gettext.NullTranslations):
    """The last fallback of a catalog: answers in English and notes what was asked."""

    def __init__(self, locale: str, missing: set[tuple[str, str]]) -> None:
        super().__init__()
        self.locale, self.missing = locale, missing

    def gettext(self, message: str) -> str:
        self.missing.add((self.locale, message))
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        self.missing.add((self.locale, msgid1))
        return msgid1 if n == 1 else msgid2


class Catalogs:
    """Translations, formatters and template environments for every supported locale."""

    def __init__(
        self, default: str = locales.DEFAULT, templates: Path = TEMPLATES, tz: dt.tzinfo | None = None
    ) -> None:
        self.default = locales.supported(default) or locales.DEFAULT
        self.tz = tz or dt.datetime.now().astimezone().tzinfo or dt.timezone.utc  # the laptop's zone
        self.missing: set[tuple[str, str]] = set()
        self._translations = {loc: self._load(loc) for loc in locales.SUPPORTED}
        self._envs = {loc: self._environment(loc, templates) for loc in locales.SUPPORTED}

    def _load(self, locale: str) -> gettext.NullTranslations:
        if locale == locales.SOURCE:
            return gettext.NullTranslations()
        found = Translations.load(str(locales.CATALOG_DIR), [locale], locales.DOMAIN)
        found.add_fallback(_Missing(locale, self.missing))
        return found

    def translations(self, locale: str) -> gettext.NullTranslations:
        return self._translations[locale]

    def gettext(self, locale: str) -> Any:
        """``_`` for Python code rendering words in ``locale`` (``str.format`` placeholders)."""
        return self._translations[locale].gettext

    def formats(self, locale: str) -> "Formats":
        return Formats(locale, self.tz)

    def negotiate(self, accept_language: str | None, chosen: str | None = None) -> str:
        return locales.supported(chosen) or locales.negotiate(accept_language, self.default)

    def render(self, locale: str, template: str, **context: Any) -> str:
        return self._envs[locale].get_template(template).render(**context)

    def _environment(self, locale: str, templates: Path) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates),
            autoescape=jinja2.select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        env.install_gettext_translations(self._translations[locale], newstyle=True)  # type: ignore[attr-defined]
        fmt = Formats(locale, self.tz)
        env.filters.update(when=fmt.when, day=fmt.day, money=fmt.money, number=fmt.number, span=fmt.span, kind=kind_of)
        env.globals.update(
            locale=locale,
            html_lang=locales.html_lang(locale),
            version=__version__,
            names=names(self._translations[locale].gettext),
            languages=[(loc, locales.display_name(loc)) for loc in locales.SUPPORTED],
        )
        return env


class Formats:
    """Dates, times, durations and money as a reader of ``locale`` writes them.

    >>> import datetime as dt
    >>> zh, en = Formats("zh_Hans", dt.timezone.utc), Formats("en", dt.timezone.utc)
    >>> at = dt.datetime(2026, 11, 28, 15, 4, tzinfo=dt.timezone.utc)
    >>> zh.when(at), en.when(at)
    ('2026年11月28日 15:04', 'Nov 28, 2026 15:04')
    >>> zh.money(119000), en.money(119000)
    ('¥1,190.00', 'CN¥1,190.00')
    >>> zh.span(dt.timedelta(hours=-3)), en.span(dt.timedelta(minutes=90))
    ('3小时', '2 hours')
    """

    def __init__(self, locale: str, tz: dt.tzinfo) -> None:
        self.locale = Locale.parse(locale)
        self.tz = tz

    def when(self, value: dt.datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        try:
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            local = value.astimezone(self.tz)
            day = format_skeleton("yMMMd", local, locale=self.locale)
            return f"{day} {format_skeleton('Hm', local, locale=self.locale)}"
        except (ValueError, TypeError, OverflowError):
            return str(value)  # an odd stored value is shown as text, never breaks the page

    def day(self, value: dt.date | None) -> str:
        if value is None:
            return ""
        try:
            return format_date(value, "medium", locale=self.locale)
        except (ValueError, TypeError, OverflowError):
            return str(value)

    def money(self, cents: int | None, currency: str = "CNY") -> str:
        if cents is None:
            return ""
        try:
            return format_currency(Decimal(cents) / 100, currency, locale=self.locale)
        except (ValueError, TypeError, ArithmeticError):
            return f"{cents} {currency}"

    def number(self, value: int | float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def span(self, delta: dt.timedelta | None) -> str:
        """A length of time, without direction (the sentence around it says ahead or overdue)."""
        if delta is None:
            return ""
        return format_timedelta(abs(delta), threshold=1.5, locale=self.locale)
