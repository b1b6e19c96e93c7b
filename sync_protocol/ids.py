"""UUIDv7 ids: made on the laptop, offline, and still unique and time-ordered.

Python 3.11's ``uuid`` module has no v7, so it is built here from RFC 9562 section 5.7:
48 bits of Unix milliseconds, the version nibble, 74 random bits and the variant bits.
Time-ordered ids keep SQLite's primary-key b-trees append-mostly.

>>> from sync_protocol.ids import uuid7, uuid7_time_ms
>>> uuid7_time_ms(uuid7(ms=1_700_000_000_000))
1700000000000
"""

from __future__ import annotations

import os
import re
import time
import uuid

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def uuid7(ms: int | None = None, rand: bytes | None = None) -> str:
    """A new UUIDv7 as its canonical lower-case string.

    ``ms`` and ``rand`` (10 bytes) exist so tests can make deterministic ids.
    """
    if ms is None:
        ms = time.time_ns() // 1_000_000
    if rand is None:
        rand = os.urandom(10)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(rand[:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(rand[2:10], "big") & 0x3FFF_FFFF_FFFF_FFFF
    return str(uuid.UUID(int=value))


def uuid7_time_ms(value: str) -> int:
    """The millisecond timestamp inside a UUIDv7."""
    return uuid.UUID(value).int >> 80


def is_uuid(value: str) -> bool:
    """True for a canonical lower-case UUID string (any version)."""
    return bool(_UUID_RE.match(value))
