"""What the office pages add to the shared formats of ``sync_protocol.i18n``: the ``lang`` of a
data span, and times typed in the office's time zone (``[office] timezone`` of config.toml).

>>> from zoneinfo import ZoneInfo
>>> from_local_input("2026-11-20T17:00", ZoneInfo("Asia/Shanghai")).isoformat()
'2026-11-20T09:00:00+00:00'
>>> lang_of("服务器宕机 server down"), lang_of("Li Wei")
('zh', '')
>>> str(tagged("李伟 <b>"))
'<span lang="zh">李伟 &lt;b&gt;</span>'
"""

from __future__ import annotations

import datetime as dt
import re

from markupsafe import Markup

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def lang_of(text: object) -> str:
    """``zh`` for a text holding Chinese characters, else empty: a ``lang`` attribute for data
    spans, so a screen reader and the font choice read 李伟 as Chinese on an English page."""
    return "zh" if isinstance(text, str) and _CJK.search(text) else ""


def tagged(text: object) -> Markup:
    """``text`` in a span whose ``lang`` is its own: a name inside a translated sentence
    ("由 Mark Evans") is marked, not the sentence. The text is escaped."""
    return Markup('<span lang="{}">{}</span>').format(lang_of(text) or "en", "" if text is None else text)


def from_local_input(text: str, zone: dt.tzinfo | None) -> dt.datetime:
    """What a ``datetime-local`` input sent, read on the office's wall clock, as UTC. A time that
    names its own offset keeps it. ``ValueError`` when it is no time."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)
