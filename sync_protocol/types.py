"""The constrained scalar types every record, event and message is built from, defined once.

Bounds live here so that a hostile body cannot balloon the store, whichever Struct it targets.
``records``, ``events``, ``messages`` and ``office`` all import them from this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from msgspec import Meta

from .hlc import HLC_PATTERN

Id = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:|@-]+$")]
Name = Annotated[str, Meta(max_length=200)]
Text = Annotated[str, Meta(max_length=4000)]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
Hlc = Annotated[str, Meta(pattern=HLC_PATTERN)]
Severity = Annotated[int, Meta(ge=1, le=4)]
Cents = Annotated[int, Meta(ge=0, le=10**12)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Timestamp = Annotated[dt.datetime, Meta(tz=True)]

__all__ = ["Cents", "Currency", "Hlc", "Id", "Name", "Severity", "Sha256", "Text", "Timestamp"]
