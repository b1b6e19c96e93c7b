"""Template filters: how the office pages show durations, times and money.

>>> duration(3900), duration(-720), duration(200000)
('1 h 05 min', '-12 min', '2 d 7 h')
>>> money(119000)
'1,190.00 CNY'
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sync_protocol.states import OPEN_STATUSES


def duration(seconds: int | None) -> str:
    """``1 h 05 min`` / ``-12 min`` (overdue): the board's time left, for people."""
    if seconds is None:
        return ""
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min"


def when(value: dt.datetime | dt.date | str | None) -> str:
    """Times are shown in UTC, labelled: the office and the laptops may sit in different zones."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def money(cents: int, currency: str = "CNY") -> str:
    """Integer minor units as ``1,190.00 CNY``: no float ever touches a price."""
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def register_filters(engine: Any) -> None:
    """Called by litestar with the Jinja engine: make the filters available to every template."""
    engine.engine.filters.update(duration=duration, when=when, money=money)
    # The job-status sets of ``sync_protocol.states``, so a page never spells one out again.
    engine.engine.globals.update(OPEN_STATUSES=OPEN_STATUSES)
