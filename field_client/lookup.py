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
>>> not_found("part", "PSU-750", "PSU-750W", in_catalog=True)
'no part PSU-750 in the catalog; did you mean PSU-750W?'
>>> not_found("job", "J-9", None)
'no job J-9 on this laptop'
"""

from __future__ import annotations

import difflib
from typing import Iterable

from sync_protocol.i18n import N_, Words

# The records an engineer names on the command line, as a refusal says them.
NOUNS = {
    "job": N_("job"),
    "part": N_("part"),
    "equipment": N_("equipment"),
    "site": N_("site"),
    "customer": N_("customer"),
    "drawing": N_("drawing"),
}


def did_you_mean(text: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``text`` (case ignored), if one is near enough to be a typo."""
    by_key = {name.upper(): name for name in candidates}
    close = difflib.get_close_matches(text.upper(), list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


def not_found(entity: str, text: str, suggestion: str | None, in_catalog: bool = False) -> Words:
    """The refusal for ``text`` naming no ``entity`` (translated where it is printed)."""
    noun = NOUNS.get(entity, entity)
    missing = (
        N_("no {entity} {text} in the catalog", entity=noun, text=text)
        if in_catalog
        else N_("no {entity} {text} on this laptop", entity=noun, text=text)
    )
    return (
        N_("{missing}; did you mean {suggestion}?", missing=missing, suggestion=suggestion) if suggestion else missing
    )
