"""The office pages in Simplified Chinese and English, with the catalogs, words and formats the
laptop app uses (``sync_protocol.i18n``).

A page's language is, in order: the one the person chose with the switch on the page (a
cookie, set by ``GET /office/language``), the best their browser's ``Accept-Language`` asks for,
the ``[office] language`` of ``config.toml``. Messages made in Python for a page (flash
messages, refusals) go through ``gettext_of(request)``; errors raised deeper carry their words
(``sync_protocol.i18n.N_``) and are translated where they are shown (``words``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from zoneinfo import ZoneInfo
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from sync_protocol import i18n, job_name, locales, sentences
from sync_protocol.states import OPEN_STATUSES

from ..policy import ConfigError
from .access import server_state
from .filters import lang_of, tagged
from .journal import config
from .refdata import CHOICE_WORDS

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANG_COOKIE = "fieldsync_lang"
LANG_MAX_AGE = 365 * 86400  # a preference, not a secret: kept for a year
AnyRequest = Request[Any, Any, Any]


def catalogs(timezone: str = "UTC") -> i18n.Catalogs:
    """The office's catalogs (built once per time zone: the .mo files and templates ship with
    the server). Times are shown in the office's zone (``[office] timezone``) and labelled
    with its offset: the office and the laptops may sit in other zones."""
    return _catalogs(timezone)


@functools.cache
def _catalogs(timezone: str) -> i18n.Catalogs:
    return i18n.Catalogs(
        TEMPLATES,
        tz=ZoneInfo(timezone),
        zone=True,
        strict=False,  # the pages leave out what they do not show (no ``section`` on an error)
        # The job-status sets of ``sync_protocol.states``, so a page never spells one out again;
        # how a job is named (both numbers); the ``lang`` of a data span.
        extra_globals={"OPEN_STATUSES": OPEN_STATUSES, "choice_words": CHOICE_WORDS, "job_name": job_name},
        extra_filters={"lang": lang_of, "tagged": tagged},
        recover=sentences.recover,
    )


def locale_of(request: AnyRequest) -> str:
    """The language of the page this request gets (see the module's docstring)."""
    chosen = locales.supported(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    default: str
    try:
        default = config(server_state(request)).office.language
    except ConfigError:  # the file was broken after the start: the pages still answer
        default = locales.DEFAULT
    return locales.negotiate(request.headers.get("accept-language"), default)


def office_zone(request: AnyRequest) -> ZoneInfo:
    """The office's time zone (``[office] timezone``); UTC while config.toml is broken."""
    try:
        return config(server_state(request)).office.zone
    except ConfigError:  # broken after the start: the pages still answer
        return ZoneInfo("UTC")


def gettext_of(request: AnyRequest) -> i18n.Gettext:
    """``_`` in the request's language, for messages made in Python (``str.format`` placeholders)."""
    return catalogs().gettext(locale_of(request))


def words(request: AnyRequest, message: str) -> str:
    """An error's message, or a sentence the server stored, in the request's language, its
    times in the office's zone."""
    locale = locale_of(request)
    moment = catalogs(office_zone(request).key).formats(locale).when
    return sentences.in_language(message, catalogs().gettext(locale), moment)


def language_cookie(locale: str, secure: bool) -> Cookie:
    return Cookie(
        key=LANG_COOKIE,
        value=locale,
        path="/office",
        max_age=LANG_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
