"""What an engineer types for a record, and the nearest match when it names nothing.

Engineers read ids off paper, the office's screen and the customer's e-mail: ``j-0001``,
``SR-2026-0001`` and ``J-0001`` are the same job (the records table finds them:
``replica.find_id``). A typo names nothing, and the answer says what it was probably meant to be.

>>> did_you_mean("psu-750", ["PSU-750W", "PSU-550W", "FAN-80MM"])
'PSU-750W'
>>> did_you_mean("J-001", ["J-0001", "SR-2026-0001", "J-0002"])
'J-0001'
>>> did_you_mean("coffee", ["PSU-750W"]) is None
True
>>> not_found("part", "PSU-750", "PSU-750W", where="in the catalog")
'no part PSU-750 in the catalog; did you mean PSU-750W?'
"""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(text: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``text`` (case ignored), if one is near enough to be a typo."""
    by_key = {name.upper(): name for name in candidates}
    close = difflib.get_close_matches(text.upper(), list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


def not_found(entity: str, text: str, suggestion: str | None, where: str = "on this laptop") -> str:
    return f"no {entity} {text} {where}" + (f"; did you mean {suggestion}?" if suggestion else "")
