"""Merge rules of DESIGN.md's conflicts table, as pure functions.

Field edits merge three-way per field against the base version the edit was made on. When the
same field changed on both sides, the winner is decided by a total order that does not depend
on which edit arrived first:

1. the side that owns the field (office for scheduling fields, field for observed facts),
2. then the later hybrid-logical-clock timestamp,
3. then the larger device id.

The loser is never dropped: it goes into a ``FieldConflict`` for a person to review.

>>> owner("site", "contact_phone"), owner("job", "assignee")
('field', 'office')
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, NamedTuple

import msgspec

from . import sentences

Side = Literal["office", "field", "system"]

# Observed facts, owned by the engineer on site. Every other field is owned by the office.
FIELD_OWNED: dict[str, frozenset[str]] = {
    "site": frozenset({"contact_name", "contact_phone", "contact_email", "installer_contact", "access_notes"}),
    "equipment": frozenset({"serial", "firmware", "location", "parameters"}),
}
# Records an engineer may patch at all (only their field-owned fields).
FIELD_EDITABLE = frozenset(FIELD_OWNED)
# Fields nobody patches: identity and values the server derives.
IMMUTABLE_FIELDS = frozenset({"id", "entity"})
DERIVED_FIELDS: dict[str, frozenset[str]] = {
    "job": frozenset({"status", "signature_state", "flags", "warranty", "respond_by", "onsite_by"}),
    "stock": frozenset({"qty"}),
}
# What the office may patch, by whichever way it comes (the office API and forms, or a push from
# an office device): every field of the reference data; of a job only what a correction of the
# fault report changes (the deadlines follow the severity); nothing of a stock row, which moves
# by deltas. The rest of a job is set at intake, or by its own action: assignment (with the
# assign endpoint's rules), cancelling. ``None``: every field but identity and derived ones.
OFFICE_PATCHABLE: dict[str, frozenset[str] | None] = {
    "customer": None,
    "site": None,
    "equipment": None,
    "drawing": None,
    "part": None,
    "job": frozenset({"fault", "severity"}),
    "stock": frozenset(),
}
OFFICE_ACTIONS: dict[tuple[str, str], str] = {
    ("job", "assignee"): "POST /api/v1/jobs/{id}/assign",
    ("job", "assignee_name"): "POST /api/v1/jobs/{id}/assign",
    ("stock", "location"): "a new stock row (POST /api/v1/stock)",
    ("stock", "sku"): "a new stock row (POST /api/v1/stock)",
}


def office_may_patch(entity: str, field: str) -> bool:
    """Whether an office edit may change this field (``OFFICE_PATCHABLE``)."""
    allowed = OFFICE_PATCHABLE.get(entity, frozenset())
    return allowed is None or field in allowed


def owner(entity: str, field: str) -> Side:
    return "field" if field in FIELD_OWNED.get(entity, frozenset()) else "office"


class FieldVersion(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Who last changed a field, and at which server version: the merge's memory."""

    version: int
    hlc: str
    side: Side
    device: str
    user: str = ""


class Writer(NamedTuple):
    side: Side
    hlc: str
    device: str
    user: str = ""


class FieldConflict(NamedTuple):
    field: str
    kept: Any
    other: Any
    kept_by: FieldVersion | Writer
    other_by: FieldVersion | Writer
    rule: str


class MergeOutcome(NamedTuple):
    status: Literal["applied", "merged", "conflict"]
    changes: dict[str, Any]  # fields to write
    stamped: list[str]  # fields the writer now stands behind (also some whose value stays)
    conflicts: list[FieldConflict]


def rank(entity: str, field: str, side: str, hlc: str, device: str) -> tuple[int, str, str]:
    """The total order of concurrent writes to one field: owner side, then clock, then device."""
    return (1 if side == owner(entity, field) else 0, hlc, device)


def merge_fields(
    entity: str,
    current: Mapping[str, Any],
    versions: Mapping[str, FieldVersion],
    record_version: int,
    patch: Mapping[str, Any],
    base_version: int,
    writer: Writer,
) -> MergeOutcome:
    """Three-way merge of ``patch`` (made on ``base_version``) into the current record.

    ``versions`` maps each field to who last changed it; a field with no entry has not changed
    since the record was created. The store writes ``changes`` and stamps every ``stamped`` field
    with the writer and the version the record is written under (``server/storage/records.py::put``).
    """
    changes: dict[str, Any] = {}
    stamped: list[str] = []
    conflicts: list[FieldConflict] = []
    concurrent = record_version > base_version
    for field, value in patch.items():
        last = versions.get(field)
        if last is None or last.version <= base_version:
            if current.get(field) != value:
                changes[field] = value
                stamped.append(field)
            continue
        outranks = rank(entity, field, writer.side, writer.hlc, writer.device) > rank(
            entity, field, last.side, last.hlc, last.device
        )
        if current.get(field) == value:
            # Both sides made the same change: nothing to decide, but the stronger of the two
            # must now stand behind the value, or a later edit would be judged against the
            # weaker one and the outcome would depend on arrival order.
            if outranks:
                stamped.append(field)
            continue
        if outranks:
            changes[field] = value
            stamped.append(field)
            conflicts.append(
                FieldConflict(
                    field, value, current.get(field), writer, last, _rule_text(entity, field, writer.side, last.side)
                )
            )
        else:
            conflicts.append(
                FieldConflict(
                    field, current.get(field), value, last, writer, _rule_text(entity, field, last.side, writer.side)
                )
            )
    status: Literal["applied", "merged", "conflict"] = (
        "conflict" if conflicts else ("merged" if concurrent else "applied")
    )
    return MergeOutcome(status, changes, stamped, conflicts)


def _rule_text(entity: str, field: str, kept_side: str, other_side: str) -> str:
    field_owner = owner(entity, field)
    if kept_side != other_side and kept_side == field_owner:
        who = sentences.THE_OFFICE if field_owner == "office" else sentences.THE_ENGINEER
        return sentences.say(sentences.RULE_OWNED, field=field, who=who)
    return str(sentences.RULE_LATER_EDIT)


class StockOutcome(NamedTuple):
    qty: int
    negative: bool


def stock_after(qty: int, delta: int) -> StockOutcome:
    """Stock deltas commute, so they never conflict; going below zero is flagged, not refused."""
    new = qty + delta
    return StockOutcome(new, new < 0)


def location_problem(location: str | None, engineer: str) -> str | None:
    """Where an engineer's part swap may take parts from: their own van, and nowhere else (a part
    from the warehouse or another van is first moved to theirs by the office, where it shows).
    None when ``location`` (None: the van) is allowed.

    >>> location_problem(None, "u-li-wei") is None, location_problem("van:u-li-wei", "u-li-wei") is None
    (True, True)
    >>> location_problem("warehouse:main", "u-li-wei")
    'parts are taken from your own van (van:u-li-wei), not from warehouse:main'
    """
    own = f"van:{engineer}"
    if location is None or location == own:
        return None
    return f"parts are taken from your own van ({own}), not from {location}"


def serial_clash(serial: str, installed_in: str | None, equipment_id: str) -> bool:
    """A serial installed in one place may not appear installed in another."""
    return bool(serial) and installed_in is not None and installed_in != equipment_id
