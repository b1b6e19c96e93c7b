"""The laptop's idea of the time: its wall clock, corrected by what the server said.

A laptop's clock may be wrong by hours (a dead CMOS battery, a time zone set by hand). The
server refuses stamps more than ``MAX_DRIFT_MS`` ahead of its own clock, and its ``server_hlc``
(in every hello, push and pull answer) carries its wall time. So the laptop keeps the
difference (``clock_offset_ms``) and stamps its clock and its events' ``at`` with
``wall + offset``; pending mutations stamped before it knew are re-stamped before they are
pushed (``restamp.py``). The offset is rewritten only when it moves by more than a second, so a
sync that brings nothing writes nothing.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time

from sync_protocol import hlc

from .store import get_meta, set_meta

OFFSET_KEY = "clock_offset_ms"
# Network latency and rounding: a difference smaller than this is not worth a write.
TOLERANCE_MS = 1_000


def system_ms() -> int:
    """The laptop's wall clock in Unix milliseconds, as the operating system says (tests replace
    this: it is the one true boundary between the laptop and its clock)."""
    return time.time_ns() // 1_000_000


def offset_ms(conn: sqlite3.Connection) -> int:
    return int(get_meta(conn, OFFSET_KEY, "0") or 0)


def now_ms(conn: sqlite3.Connection) -> int:
    """The laptop's best knowledge of the time: its wall clock plus the offset it learnt."""
    return system_ms() + offset_ms(conn)


def now(conn: sqlite3.Connection) -> dt.datetime:
    return dt.datetime.fromtimestamp(now_ms(conn) / 1000, dt.timezone.utc)


def learn(conn: sqlite3.Connection, server_hlc: str) -> int:
    """Remember how far the server's clock is from this laptop's (the caller's write
    transaction); returns the offset in force."""
    offset = hlc.wall_ms(server_hlc) - system_ms()
    known = offset_ms(conn)
    if abs(offset - known) > TOLERANCE_MS:
        set_meta(conn, OFFSET_KEY, str(offset))
        return offset
    return known
