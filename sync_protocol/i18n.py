"""The one home of fieldsync's translated words, shared by the laptop app (``field ui``), the
``field`` CLI and the office pages: the message catalogs of ``sync_protocol.locales``, Jinja2's
i18n extension, the words for coded values, and dates, times, durations and money formatted for
the reader's locale (Babel).

One Jinja2 environment per locale, each with its translations installed (``newstyle`` gettext:
``{{ _('Backup of %(scope)s', scope=...) }}`` escapes the values it formats), so a request only
picks an environment and nothing is switched per thread. A message the catalog lacks is shown
in English and remembered in ``Catalogs.missing``: the catalog tests render every page in every
language and expect it empty.

Reading the compiled catalogs that ship inside this package is the one file this module opens
(as an import reads a module): no store, no network, no user's file.

A message made deep in the server (an error that names a field) is English for the API and the
logs, and translated where a person reads it: ``N_`` keeps the message's msgid and values with
the English text, and ``translate`` renders it in a page's language.

>>> message = N_("no job {job}", job="J-0001")
>>> message, translate(message, {"no job {job}": "没有工单 {job}"}.get)
('no job J-0001', '没有工单 J-0001')
>>> translate("plain text", lambda m: "never asked")
'plain text'
"""

from __future__ import annotations

import datetime as dt
import gettext
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
from babel import Locale
from babel.dates import format_date, format_skeleton, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from . import locales

Gettext = Callable[[str], str]
log = logging.getLogger("fieldsync.i18n")


# --- messages made where no reader is known --------------------------------------------------


class Words(str):
    """An English message that remembers how to say itself in another language."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: Mapping[str, Any]) -> "Words":
        made = super().__new__(cls, msgid.format(**params) if params else msgid)
        made.msgid, made.params = msgid, dict(params)
        return made


class Moment(str):
    """A moment inside a stored sentence, written as sentences store it (``2026-11-18 09:35
    UTC``: one zone for every reader, since the text is synced as it is), that a reader's page
    shows in its own zone and locale when it translates the sentence (``translate``'s
    ``moment``).

    >>> import datetime as dt
    >>> at = Moment(dt.datetime(2026, 11, 18, 17, 35, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    >>> at, Moment.parse(at).at == at.at, Moment.parse("someday")
    ('2026-11-18 09:35 UTC', True, None)
    """

    STORED = "%Y-%m-%d %H:%M UTC"
    at: dt.datetime

    def __new__(cls, at: dt.datetime) -> "Moment":
        made = super().__new__(cls, at.astimezone(dt.timezone.utc).strftime(cls.STORED))
        made.at = at
        return made

    @classmethod
    def parse(cls, text: str) -> "Moment | None":
        """The moment ``text`` was written as, or None when it is not one."""
        try:
            return cls(dt.datetime.strptime(text, cls.STORED).replace(tzinfo=dt.timezone.utc))
        except ValueError:
            return None


def N_(msgid: str, **params: Any) -> Words:
    """``msgid`` (``str.format`` placeholders) with ``params``: English now, translatable later.
    The name is one of the keywords ``pybabel extract`` looks for."""
    return Words(msgid, params)


def translate(message: str, _: Gettext, moment: Callable[[dt.datetime], str] | None = None) -> str:
    """``message`` in the language of ``_``: a ``Words`` is translated, any other text is shown
    as it is (a value someone typed, a message from outside). ``moment`` writes the times inside
    it as the reader reads them (a page's zone and locale); without it they stay as stored."""
    if isinstance(message, Words):  # its values too: "{sku} in {place}", the place in words
        params = {k: _value_said(v, _, moment) for k, v in message.params.items()}
        return _(message.msgid).format(**params) if params else _(message.msgid)
    return message


def _value_said(value: Any, _: Gettext, moment: Callable[[dt.datetime], str] | None) -> Any:
    if isinstance(value, Words):
        return translate(value, _, moment)
    if isinstance(value, Moment) and moment is not None:
        return moment(value.at)
    return value


# --- catalogs ----------------------------------------------------------------------------------


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


def load_translations(locale: str, missing: set[tuple[str, str]]) -> gettext.NullTranslations:
    """The translations of ``locale`` from the shipped catalog; what it lacks lands in ``missing``."""
    if locale == locales.SOURCE:
        return gettext.NullTranslations()
    found = Translations.load(str(locales.CATALOG_DIR), [locale], locales.DOMAIN)
    found.add_fallback(_Missing(locale, missing))
    return found


def names(_: Gettext) -> dict[str, dict[object, str]]:
    """The words for the coded values pages show many times over (a job's status, its severity,
    a diagnosis's cause, a backup's scope), translated once per locale when an app starts: a
    page of 200 jobs looks each up in a dict instead of running 600 template macros."""
    return {
        "status": {
            "new": _("new"),
            "assigned": _("assigned"),
            "on_site": _("on site"),
            "resolved": _("resolved"),
            "escalated": _("escalated"),
            "cancelled": _("cancelled"),
            "closed": _("closed"),
        },
        "severity": {1: _("S1 critical"), 2: _("S2 major"), 3: _("S3 minor"), 4: _("S4 cosmetic")},
        "cause": {
            "hardware": _("hardware"),
            "software": _("software"),
            "human": _("human (misuse, self-repair)"),
            "environment": _("environment"),
            "unknown": _("unknown"),
        },
        "scope": {"system": _("the system"), "data": _("the data"), "config": _("the configuration")},
        "role": {
            "engineer": _("engineer"),
            "dispatcher": _("dispatcher"),
            "supervisor": _("supervisor"),
            "admin": _("administrator"),
        },
        "outcome": {"verified": _("verified"), "waived": _("waived"), "missing": _("missing")},
        "event": {
            "checkin": _("check-in"),
            "backup": _("backup"),
            "diagnosis": _("diagnosis"),
            "quote": _("quote"),
            "customer_approval": _("customer's decision"),
            "part_swap": _("part swap"),
            "loaner": _("loaner"),
            "test": _("test"),
            "note": _("note"),
            "photo": _("photo"),
            "signature": _("signature"),
            "resolution": _("resolution"),
        },
        "conflict": {
            "field": _("field"),
            "job_state": _("job state"),
            "stock": _("stock"),
            "serial": _("serial"),
            "signature": _("signature"),
        },
        "flag": {
            "sla_respond_missed": _("response deadline missed"),
            "sla_onsite_missed": _("on-site deadline missed"),
            "work_after_cancel": _("work after cancellation"),
            "work_after_reassign": _("work after re-assignment"),
            "re_sign_requested": _("re-signature requested"),
        },
    }


class Catalogs:
    """Translations, formatters and template environments for every supported locale.

    ``templates`` is the directory of one app's templates; ``zone`` labels times with their
    zone (the office, whose readers and laptops may sit in different zones); ``extra`` adds
    the app's own globals and filters to every environment; ``strict`` makes a name a template
    uses but was not given an error (the laptop's), else it reads as empty (the office's)."""

    def __init__(
        self,
        templates: Path,
        default: str = locales.DEFAULT,
        tz: dt.tzinfo | None = None,
        zone: bool = False,
        extra_globals: Mapping[str, Any] | None = None,
        extra_filters: Mapping[str, Callable[..., Any]] | None = None,
        strict: bool = True,
        recover: Callable[[str], str] | None = None,
    ) -> None:
        """``recover`` finds the ``Words`` a stored English sentence was made from (the
        ``sentences`` module's), so the ``words`` filter can say it in the page's language."""
        self.default = locales.supported(default) or locales.DEFAULT
        self.tz = tz or dt.datetime.now().astimezone().tzinfo or dt.timezone.utc  # the machine's zone
        self.zone = zone
        self.undefined = jinja2.StrictUndefined if strict else jinja2.Undefined
        self.missing: set[tuple[str, str]] = set()
        self._translations = {loc: load_translations(loc, self.missing) for loc in locales.SUPPORTED}
        self._extra_globals = dict(extra_globals or {})
        self._extra_filters = dict(extra_filters or {})
        self._recover = recover or str
        self._envs = {loc: self._environment(loc, templates) for loc in locales.SUPPORTED}

    def translations(self, locale: str) -> gettext.NullTranslations:
        return self._translations[locale]

    def gettext(self, locale: str) -> Gettext:
        """``_`` for Python code rendering words in ``locale`` (``str.format`` placeholders)."""
        return self._translations[locale].gettext

    def formats(self, locale: str) -> "Formats":
        return Formats(locale, self.tz, self.zone, self.gettext(locale))

    def negotiate(self, accept_language: str | None, chosen: str | None = None) -> str:
        return locales.supported(chosen) or locales.negotiate(accept_language, self.default)

    def render(self, locale: str, template: str, **context: Any) -> str:
        return self.environment(locale).get_template(template).render(**context)

    def environment(self, locale: str) -> jinja2.Environment:
        """The templates of ``locale``, their filters and globals."""
        return self._envs[locale]

    def _environment(self, locale: str, templates: Path) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates),
            autoescape=jinja2.select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=self.undefined,
        )
        _ = self._translations[locale]
        env.install_gettext_translations(_, newstyle=True)  # type: ignore[attr-defined]
        fmt = self.formats(locale)
        env.filters.update(
            when=fmt.when,
            day=fmt.day,
            money=fmt.money,
            number=fmt.number,
            percent=fmt.percent,
            span=fmt.span,
            duration=fmt.duration,
            words=lambda message: translate(
                message if isinstance(message, Words) else self._recover(message), _.gettext, fmt.when
            ),
            **self._extra_filters,
        )
        env.globals.update(
            locale=locale,
            html_lang=locales.html_lang(locale),
            names=names(_.gettext),
            languages=[(loc, locales.display_name(loc)) for loc in locales.SUPPORTED],
            **self._extra_globals,
        )
        return env


# --- formats -----------------------------------------------------------------------------------


def zone_label(zone: dt.tzinfo | None, at: dt.datetime | None = None) -> str:
    """``UTC``, ``UTC+8``, ``UTC-3:30``: a zone as its offset, which no reader mistakes (``CST``
    is China's and America's).

    >>> from zoneinfo import ZoneInfo
    >>> zone_label(ZoneInfo("Asia/Shanghai")), zone_label(None), zone_label(ZoneInfo("Asia/Kolkata"))
    ('UTC+8', 'UTC', 'UTC+5:30')
    """
    offset = (at or dt.datetime.now(dt.timezone.utc)).astimezone(zone or dt.timezone.utc).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'-' if minutes < 0 else '+'}{hours}" + (f":{rest:02d}" if rest else "")


class Formats:
    """Dates, times, durations and money as a reader of ``locale`` writes them.

    >>> import datetime as dt
    >>> zh, en = Formats("zh_Hans", dt.timezone.utc), Formats("en", dt.timezone.utc)
    >>> at = dt.datetime(2026, 11, 28, 15, 4, tzinfo=dt.timezone.utc)
    >>> zh.when(at), en.when(at)
    ('2026年11月28日 15:04', 'Nov 28, 2026 15:04')
    >>> Formats("en", dt.timezone.utc, zone=True).when("2026-11-20T17:00:00+08:00")
    'Nov 20, 2026 09:00 UTC'
    >>> zh.money(119000), en.money(119000)
    ('¥1,190.00', 'CN¥1,190.00')
    >>> zh.span(dt.timedelta(hours=-3)), en.span(dt.timedelta(minutes=90))
    ('3小时', '2 hours')
    >>> en.duration(3900), en.duration(-720), en.duration(200000)
    ('1 h 05 min', '-12 min', '2 d 7 h')
    >>> en.percent(97.25)
    '97.2%'
    """

    def __init__(self, locale: str, tz: dt.tzinfo, zone: bool = False, gettext: Gettext | None = None) -> None:
        self.locale = Locale.parse(locale)
        self.tz = tz
        self.zone = zone
        self._ = gettext or (lambda message: message)

    def when(self, value: dt.datetime | str | None) -> str:
        """A moment in this reader's zone; an odd stored value is shown as its text, never
        breaks the page."""
        if value is None or value == "":
            return ""
        try:
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if not isinstance(value, dt.datetime):
                return self.day(value)
            local = value.astimezone(self.tz)
            day, time = (format_skeleton(skeleton, local, locale=self.locale) for skeleton in ("yMMMd", "Hm"))
            text = f"{day} {time}"
            return f"{text} {zone_label(self.tz, local)}" if self.zone else text
        except (ValueError, TypeError, OverflowError, OSError):
            log.warning("a stored time could not be shown as a time: %r", value)
            return str(value)

    def day(self, value: dt.date | str | None) -> str:
        if value is None or value == "":
            return ""
        try:
            if isinstance(value, str):
                value = dt.date.fromisoformat(value)
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

    def percent(self, value: float | None) -> str:
        """A percentage given as 0-100 (one decimal), ``—`` when there is none."""
        if value is None:
            return "—"
        return format_percent(Decimal(str(value)) / 100, "#,##0.0%", locale=self.locale)

    def span(self, delta: dt.timedelta | None) -> str:
        """A length of time, without direction (the sentence around it says ahead or overdue)."""
        if delta is None:
            return ""
        return format_timedelta(abs(delta), threshold=1.5, locale=self.locale)

    def duration(self, seconds: int | float | None) -> str:
        """``1 h 05 min`` / ``-12 min`` (overdue): an SLA clock to the minute, for people."""
        if seconds is None:
            return ""
        sign, whole = ("-" if seconds < 0 else ""), abs(int(seconds))
        days, rest = divmod(whole, 86400)
        hours, minutes = rest // 3600, rest % 3600 // 60
        if days:
            return sign + self._("{days} d {hours} h").format(days=days, hours=hours)
        if hours:
            return sign + self._("{hours} h {minutes} min").format(hours=hours, minutes=f"{minutes:02d}")
        return sign + self._("{minutes} min").format(minutes=minutes)
