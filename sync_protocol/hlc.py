"""Hybrid logical clock: orders edits made on laptops whose wall clocks are wrong.

A timestamp is a 16-character lower-case hex string: 12 hex digits of milliseconds since the
Unix epoch, then 4 hex digits of a logical counter. Fixed width makes plain string comparison
the clock order, in Python, in SQLite and in any client language, with no 64-bit integer
precision traps in JavaScript. Ties between devices are broken by device id, never by wall time.

>>> clock = Clock(now_ms=lambda: 1_000)
>>> clock.tick()
'0000000003e80000'
>>> clock.tick()
'0000000003e80001'
"""

from __future__ import annotations

import re
import time
from typing import Callable

HLC_PATTERN = r"^[0-9a-f]{16}$"
_HLC_RE = re.compile(HLC_PATTERN)
_MAX_COUNTER = 0xFFFF
# The drift bound: a remote timestamp further ahead of our wall clock than this is refused
# rather than adopted, so one laptop with a clock set to 2099 cannot drag every clock in the
# fleet forward, nor make its edits win every later merge. The server refuses mutations stamped
# beyond it (``bounds.stamp_problem``); a laptop whose clock runs ahead corrects itself from the
# server's clock instead (see docs/protocol.md).
MAX_DRIFT_MS = 5 * 60 * 1000


class ClockDriftError(ValueError):
    """A remote timestamp is implausibly far in the future."""


def encode(wall_ms: int, counter: int) -> str:
    """Pack (milliseconds, counter) into the sortable string form."""
    return f"{wall_ms:012x}{counter:04x}"


def decode(stamp: str) -> tuple[int, int]:
    """Unpack a timestamp into (milliseconds, counter)."""
    if not _HLC_RE.match(stamp):
        raise ValueError(f"not a hybrid logical clock timestamp: {stamp!r}")
    return int(stamp[:12], 16), int(stamp[12:], 16)


def wall_ms(stamp: str) -> int:
    """The physical part of a timestamp, in Unix milliseconds."""
    return decode(stamp)[0]


class Clock:
    """One node's hybrid logical clock (Kulkarni et al., 2014).

    The clock's last value is state the caller must persist (``last``) so that a restarted
    laptop never issues a timestamp below one it already handed out.
    """

    def __init__(self, last: str | None = None, now_ms: Callable[[], int] | None = None) -> None:
        self._now = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._ms, self._counter = decode(last) if last else (0, 0)

    @property
    def last(self) -> str:
        return encode(self._ms, self._counter)

    def tick(self) -> str:
        """A timestamp for a local event, strictly greater than every one seen before."""
        now = self._now()
        if now > self._ms:
            self._ms, self._counter = now, 0
        else:
            self._bump()
        return self.last

    def observe(self, remote: str) -> str:
        """Merge a timestamp received from elsewhere; returns the new local time."""
        r_ms, r_counter = decode(remote)
        now = self._now()
        if r_ms - now > MAX_DRIFT_MS:
            raise ClockDriftError(f"remote clock {remote} is more than {MAX_DRIFT_MS // 1000} s ahead")
        if now > self._ms and now > r_ms:
            self._ms, self._counter = now, 0
        elif r_ms > self._ms:
            self._ms, self._counter = r_ms, r_counter
            self._bump()
        elif r_ms == self._ms:
            self._counter = max(self._counter, r_counter)
            self._bump()
        else:
            self._bump()
        return self.last

    def _bump(self) -> None:
        if self._counter >= _MAX_COUNTER:
            self._ms, self._counter = self._ms + 1, 0
        else:
            self._counter += 1
