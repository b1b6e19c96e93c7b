"""The languages fieldsync's pages speak, where their message catalogs are, and which one a
browser gets. Pure: it names files, it never opens them.

The laptop app (``field ui``) and the office pages share one gettext domain, ``fieldsync``, in
``sync_protocol/locale/`` (the only package both sides may import): a message translated once
reads the same on the engineer's screen and on the office's sheet. English is the source
language (the msgids), so it needs no catalog; Simplified Chinese has one.

>>> negotiate("zh-CN,zh;q=0.9,en;q=0.8")
'zh_Hans'
>>> negotiate("en-GB,en;q=0.9", default="zh_Hans")
'en'
>>> negotiate("fr-FR, de;q=0.5", default="zh_Hans")
'zh_Hans'
>>> negotiate("zh-TW,en;q=0.5")        # Traditional script: not spoken here, English is next
'en'
>>> negotiate("zh-Hant, fr;q=0.3")     # nothing spoken here: the default
'en'
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

CATALOG_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "fieldsync"
SOURCE = "en"  # the language msgids are written in
SUPPORTED = ("zh_Hans", "en")
DEFAULT = "en"

_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})
_NAMES = {"zh_Hans": "中文", "en": "English"}


def supported(locale: str | None) -> str | None:
    """``locale`` if fieldsync speaks it, else None (for a setting or a stored choice)."""
    return locale if locale in SUPPORTED else None


def from_tag(tag: str) -> str | None:
    """The supported locale a BCP 47 language tag (``zh-Hans-CN``, ``en_US``) asks for, or None.

    >>> [from_tag(t) for t in ("zh", "zh-CN", "zh-Hans-SG", "zh-Hant", "zh-HK", "EN-us", "fr", "*")]
    ['zh_Hans', 'zh_Hans', 'zh_Hans', None, None, 'en', None, None]
    """
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    rest = set(parts[1:])
    if "hant" in rest or (rest & _TRADITIONAL_REGIONS and "hans" not in rest):
        return None
    return "zh_Hans"


def from_environment(environ: Mapping[str, str]) -> str:
    """The locale a command line speaks: the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that
    is set decides, as for gettext (``C`` and ``POSIX`` are English); one fieldsync does not
    speak is English too.

    >>> [from_environment(e) for e in ({"LANG": "zh_CN.UTF-8"}, {"LANG": "C"}, {},
    ...  {"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, {"LC_MESSAGES": "zh_TW.UTF-8"},
    ...  {"LC_ALL": "", "LANG": "zh_SG.GB2312@pinyin"})]
    ['zh_Hans', 'en', 'en', 'en', 'en', 'zh_Hans']
    """
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            tag = value.split(".")[0].split("@")[0]
            return "en" if tag in ("C", "POSIX") else (from_tag(tag) or DEFAULT)
    return DEFAULT


def negotiate(accept_language: str | None, default: str = DEFAULT) -> str:
    """The locale to answer an ``Accept-Language`` header with: the supported language the
    browser weights highest (ties keep the header's order), else ``default``."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        locale = from_tag(tag) if tag.strip() else None
        if locale and weight > 0:
            ranked.append((-weight, position, locale))
    return min(ranked)[2] if ranked else (supported(default) or DEFAULT)


def html_lang(locale: str) -> str:
    """The ``lang`` attribute of a page in ``locale``.

    >>> html_lang("zh_Hans"), html_lang("en")
    ('zh-Hans', 'en')
    """
    return locale.replace("_", "-")


def display_name(locale: str) -> str:
    """A language's name in itself, for a language switch."""
    return _NAMES[locale]
