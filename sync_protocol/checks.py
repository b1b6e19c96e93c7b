"""What makes a mutation acceptable: one pure check of patches and one of events.

The server runs these before applying a pushed mutation (or an office edit) and answers
``rejected`` with the ``SyncRejected`` reason; the laptop runs the very same functions at the
moment of recording, so it refuses exactly what the server would, offline, while the customer is
still in the room. Lookups are the caller's (``find(entity, id)``: the server's store, the
laptop's view), so the rules themselves do no I/O.

Field names are the push's own: ``fields.<name>`` in a patch, ``event.<path>`` in an event.

>>> from sync_protocol import Site
>>> site = Site(id="S-1", customer_id="C-1", name="Plant")
>>> check_patch("site", site, {"contact_phone": "+86 21 5555"}, side="field").contact_phone
'+86 21 5555'
>>> check_patch("site", site, {"name": "Other"}, side="field")
Traceback (most recent call last):
...
sync_protocol.errors.SyncRejected: site.name is owned by the office side; engineers may edit only observed facts
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

import msgspec

from .bounds import nul_path, nul_refusal
from .codec import field_of
from .errors import SyncRejected
from .events import CustomerApproval, EventPayload, PartSwap, Quote
from .merge import (
    DERIVED_FIELDS,
    FIELD_OWNED,
    IMMUTABLE_FIELDS,
    OFFICE_ACTIONS,
    Side,
    location_problem,
    office_may_patch,
    owner,
)
from .records import ENTITY_TYPES, Equipment, Job, JobEvent, Record

R = TypeVar("R", bound=Record)
# ``find(entity, id)``: the record as the caller holds it, or None.
Find = Callable[[str, str], "Record | None"]
# Records nobody patches: events are facts (only appended), conflicts are settled by the office.
NOT_PATCHABLE = frozenset({"event", "conflict"})


def check_entity(entity: str) -> type[Record]:
    """The Struct of a patchable entity, or ``unknown_entity``."""
    kind = ENTITY_TYPES.get(entity)
    if kind is None or entity in NOT_PATCHABLE:
        raise SyncRejected("unknown_entity", f"records of kind {entity!r} cannot be patched", field="entity")
    return kind  # type: ignore[return-value]


def check_patch(entity: str, current: R, fields: Mapping[str, Any], side: Side) -> R:
    """``current`` with ``fields`` set, validated; or ``SyncRejected`` naming the field.

    A patch names at least one field, only fields the record has, none the server derives or
    that identify it, from an engineer (``side="field"``) only observed facts, and from the
    office (``side="office"``) only what an office edit changes (``merge.OFFICE_PATCHABLE``:
    a job's assignee, for one, changes only by assignment).
    """
    kind = type(current)
    if not fields:
        raise SyncRejected("invalid", "a patch needs at least one field", field="fields")
    for name in fields:
        if name not in kind.__struct_fields__:
            raise SyncRejected("invalid", f"{entity} has no field {name!r}", field=f"fields.{name}")
        if name in IMMUTABLE_FIELDS or name in DERIVED_FIELDS.get(entity, ()):
            raise SyncRejected("forbidden_field", f"{name} is set by the server, not patched", field=f"fields.{name}")
        if side == "field" and name not in FIELD_OWNED.get(entity, ()):
            raise SyncRejected(
                "forbidden_field",
                f"{entity}.{name} is owned by the {owner(entity, name)} side; engineers may edit only observed facts",
                field=f"fields.{name}",
            )
        if side == "office" and not office_may_patch(entity, name):
            action = OFFICE_ACTIONS.get((entity, name))
            raise SyncRejected(
                "forbidden_field",
                f"{entity}.{name} is not changed by an edit"
                + (f": use {action}" if action else ": it is set when the record is made"),
                field=f"fields.{name}",
            )
    where = nul_path(fields)
    if where is not None:
        field = f"fields.{where}" if where else "fields"
        raise SyncRejected("invalid", nul_refusal(field), field=field)
    try:
        return msgspec.convert({**msgspec.to_builtins(current), **fields}, kind)
    except msgspec.ValidationError as exc:
        path = field_of(str(exc))
        raise SyncRejected("invalid", str(exc), field=f"fields.{path}" if path else "fields") from None


def check_event(job: Job, payload: EventPayload, find: Find, author: str | None = None) -> None:
    """Refuse an event that is incomplete, names what does not exist, or (from the engineer
    ``author``) takes parts from anywhere but their own van (nothing is written then).

    Rules the service flow asks the engineer to keep but that never lose work (backup first,
    approval of paid work, a serial seen elsewhere) are not refusals: the server records and flags
    them, and the laptop asks before recording (``field_client.rules``).
    """
    problem = getattr(payload, "problem", lambda: None)()
    if problem:
        raise SyncRejected("invalid", problem[1], field=f"event.payload.{problem[0]}")
    if isinstance(payload, PartSwap):
        _check_swap(job, payload, find, author)
    elif isinstance(payload, CustomerApproval):
        quote = find("event", payload.quote_event_id)
        if not (isinstance(quote, JobEvent) and quote.job_id == job.id and isinstance(quote.payload, Quote)):
            raise SyncRejected(
                "unknown_quote",
                f"no quote {payload.quote_event_id} on job {job.number}",
                field="event.payload.quote_event_id",
            )


def _check_swap(job: Job, swap: PartSwap, find: Find, author: str | None) -> None:
    equipment = find("equipment", swap.equipment_id)
    if not isinstance(equipment, Equipment) or equipment.site_id != job.site_id:
        raise SyncRejected(
            "unknown_equipment",
            f"no equipment {swap.equipment_id} at the job's site",
            field="event.payload.equipment_id",
        )
    if find("part", swap.sku) is None:
        raise SyncRejected("unknown_part", f"no part {swap.sku} in the catalog", field="event.payload.sku")
    if swap.serial_in == swap.serial_out:
        raise SyncRejected(
            "invalid",
            "the serial going in is the serial coming out",
            field="event.payload.serial_in",
            rule="same_serial",
        )
    problem = None if author is None else location_problem(swap.location, author)
    if problem:
        raise SyncRejected("scope", problem, field="event.payload.location", rule="not_own_van")


def local_field(field: str | None) -> str | None:
    """A check's field as the laptop's own API names it (``fields.x`` and ``event.payload.x``
    are ``x`` there: the engineer typed ``x``)."""
    if field is None:
        return None
    for prefix in ("event.payload.", "fields.", "event."):
        if field.startswith(prefix):
            return field[len(prefix) :]
    return field
