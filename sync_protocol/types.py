"""The constrained scalar types every record, event and message is built from, defined once.

Bounds live here so that a hostile body cannot balloon the store, whichever Struct it targets; their
numbers, and those of lists and maps, are ``bounds.py``'s.
``records``, ``events``, ``messages`` and ``office`` all import them from this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from msgspec import Meta

from .bounds import MAX_BYTES, MAX_CENTS, MAX_DAYS, MAX_ID, MAX_NAME, MAX_QTY, MAX_STOCK, MAX_TEXT
from .hlc import HLC_PATTERN

Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID, pattern=r"^[A-Za-z0-9_.:|@-]+$")]
Name = Annotated[str, Meta(max_length=MAX_NAME)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
Hlc = Annotated[str, Meta(pattern=HLC_PATTERN)]
Severity = Annotated[int, Meta(ge=1, le=4)]
Cents = Annotated[int, Meta(ge=0, le=MAX_CENTS)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Timestamp = Annotated[dt.datetime, Meta(tz=True)]
Qty = Annotated[int, Meta(ge=1, le=MAX_QTY)]  # parts on a quote line or in a swap
StockQty = Annotated[int, Meta(ge=-MAX_STOCK, le=MAX_STOCK)]  # may go negative: flagged, not refused
Bytes = Annotated[int, Meta(ge=0, le=MAX_BYTES)]  # a size in bytes
Days = Annotated[int, Meta(ge=0, le=MAX_DAYS)]

__all__ = [
    "Bytes",
    "Cents",
    "Currency",
    "Days",
    "Hlc",
    "Id",
    "Name",
    "Qty",
    "Severity",
    "Sha256",
    "StockQty",
    "Text",
    "Timestamp",
]
