"""Template filters: how the office pages show durations, times and money.

>>> duration(3900), duration(-720), duration(200000)
('1 h 05 min', '-12 min', '2 d 7 h')
>>> money(119000)
'1,190.00 CNY'
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sync_protocol.bounds import as_utc
from sync_protocol.states import OPEN_STATUSES

log = logging.getLogger("fieldsync.office")


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
    """Times are shown in UTC, labelled: the office and the laptops may sit in different zones.
    A time that has no UTC form (stored before the protocol bounded times) is shown as the text
    it was sent as, and logged: one odd value never takes a page down."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment: dt.datetime | dt.date = dt.datetime.fromisoformat(value)
        except ValueError:
            return odd_time(value)
    else:
        moment = value
    if isinstance(moment, dt.datetime):
        utc = as_utc(moment)
        return odd_time(moment.isoformat()) if utc is None else utc.strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat()


def odd_time(text: str) -> str:
    """A time that cannot be shown as one: logged, and shown as its text."""
    log.warning("a stored time could not be shown as a time: %r", text)
    return text


def money(cents: int, currency: str = "CNY") -> str:
    """Integer minor units as ``1,190.00 CNY``: no float ever touches a price."""
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def register_filters(engine: Any) -> None:
    """Called by litestar with the Jinja engine: make the filters available to every template."""
    engine.engine.filters.update(duration=duration, when=when, money=money)
    # The job-status sets of ``sync_protocol.states``, so a page never spells one out again.
    engine.engine.globals.update(OPEN_STATUSES=OPEN_STATUSES)
