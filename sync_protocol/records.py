"""The entity records that sync between the server and the laptops: one Struct each.

These Structs are the single source of truth for data shapes: the server stores them as JSON,
the wire carries them in MessagePack or JSON, and the laptop renders them. Each record is a
member of the ``Record`` tagged union (tag field ``entity``), so a page of changes decodes
into the right type and an unknown entity is refused by name.

Money is integer minor units (cents/fen) with a currency code: no float ever holds a price.
Every text field is Unicode; sizes are bounded so that a hostile body cannot balloon the store.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Union, cast

import msgspec
from msgspec import Meta

from .bounds import MAX_FLAGS, MAX_LIST, MAX_MAP
from .events import EventPayload
from .types import Bytes, Cents, Currency, Days, Hlc, Id, Name, Severity, Sha256, StockQty, Text, Timestamp


JobStatus = Literal["new", "assigned", "on_site", "resolved", "escalated", "cancelled", "closed"]
EquipmentCategory = Literal["server", "switch", "storage", "camera", "controller", "pc", "ups", "router", "other"]


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="entity", gc=False):
    """Every record, and every struct a record, mutation or page change is made of, is declared
    ``gc=False``: they are trees of values that never refer back to themselves, so the garbage
    collector need not track them. A pull decodes a hundred thousand of them and a push
    thousands; tracked, they made the collector's passes 8-10% of a pull and of a push."""

    id: Id


class Customer(_Record, tag="customer", kw_only=True):
    name: Name
    address: Text = ""
    phone: Name = ""
    email: Name = ""
    notes: Text = ""


class Site(_Record, tag="site", kw_only=True):
    customer_id: Id
    name: Name
    address: Text = ""
    contact_name: Name = ""
    contact_phone: Name = ""
    contact_email: Name = ""
    installer_contact: Text = ""
    access_notes: Text = ""
    handover_date: dt.date | None = None
    subsystems: Annotated[list[Name], Meta(max_length=MAX_LIST)] = []
    notes: Text = ""


class Drawing(_Record, tag="drawing", kw_only=True):
    site_id: Id
    title: Name
    kind: Literal["cable_routes", "construction", "installation", "network", "other"] = "other"
    filename: Name
    media_type: Name
    sha256: Sha256
    size: Bytes


class Equipment(_Record, tag="equipment", kw_only=True):
    site_id: Id
    category: EquipmentCategory = "other"
    manufacturer: Name = ""
    model: Name
    serial: Name
    location: Text = ""
    subsystem: Name = ""
    install_date: dt.date | None = None
    warranty_end: dt.date | None = None
    firmware: Name = ""
    parameters: Annotated[dict[Name, Text], Meta(max_length=MAX_MAP)] = {}


class Part(_Record, tag="part", kw_only=True):
    """A catalog entry; ``id`` is the SKU."""

    name: Name
    wear_part: bool = False
    price_cents: Cents = 0
    currency: Currency = "CNY"
    warranty_days: Days = 365


class Stock(_Record, tag="stock", kw_only=True):
    """Quantity of one SKU at one location; ``id`` is ``"{location}|{sku}"``.

    A location is ``van:<user id>`` or ``warehouse:<name>``. Quantity may be negative: two
    engineers can take the last unit offline, and the deficit is flagged, not refused.
    """

    location: Id
    sku: Id
    qty: StockQty


class Job(_Record, tag="job", kw_only=True):
    """A service order."""

    number: Name
    kind: Literal["corrective", "preventive"] = "corrective"
    customer_id: Id
    site_id: Id
    equipment_ids: Annotated[list[Id], Meta(max_length=MAX_LIST)] = []
    fault: Text = ""
    severity: Severity
    reported_by: Name = ""
    reported_at: Timestamp
    respond_by: Timestamp | None = None
    onsite_by: Timestamp | None = None
    status: JobStatus = "new"
    assignee: Id | None = None
    assignee_name: Name = ""
    warranty: Literal["in", "out", "unknown"] = "unknown"
    signature_state: Literal["none", "valid", "outdated"] = "none"
    flags: Annotated[list[Name], Meta(max_length=MAX_FLAGS)] = []


class JobEvent(_Record, tag="event", kw_only=True):
    """An append-only fact recorded on site. Never edited, never merged: only added."""

    job_id: Id
    author: Id = ""
    device_id: Id = ""
    hlc: Hlc
    at: Timestamp
    payload: EventPayload


def as_appended(event: JobEvent, user_id: str, device_id: str) -> JobEvent:
    """The event as the server stores it: its author and device are the token's, whatever the
    laptop sent (docs/protocol.md, push). A laptop that keeps its pushed events stores the same
    record, so that it holds exactly what a pull would have sent it."""
    return msgspec.structs.replace(event, author=user_id, device_id=device_id)


class Party(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True, gc=False):
    """Who made one side of a conflicting change."""

    user: Id = ""
    device: Id = ""
    side: Literal["office", "field", "system"] = "system"
    hlc: Hlc | None = None


class Conflict(_Record, tag="conflict", kw_only=True):
    """A decision made by a merge rule that a person should see, until someone resolves it."""

    kind: Literal["field", "job_state", "stock", "serial", "signature"]
    record_entity: Name
    record_id: Id
    field: Name = ""
    job_id: Id | None = None
    engineer: Id | None = None
    kept: Any = None
    other: Any = None
    kept_by: Party = Party()
    other_by: Party = Party()
    rule: Text
    detail: Text = ""
    created_at: Timestamp
    status: Literal["open", "resolved"] = "open"
    resolution: Literal["accepted", "overridden"] | None = None
    resolved_by: Id | None = None
    resolved_at: Timestamp | None = None


Record = Union[Customer, Site, Drawing, Equipment, Part, Stock, Job, JobEvent, Conflict]

ENTITY_TYPES: dict[str, type[_Record]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (Customer, Site, Drawing, Equipment, Part, Stock, Job, JobEvent, Conflict)
}
ENTITIES = tuple(ENTITY_TYPES)


def entity_of(record: Record) -> str:
    """The entity name (``"site"``, ``"event"``, ...) of a record."""
    return type(record).__struct_config__.tag  # type: ignore[return-value]


def job_name(number: str, job_id: str) -> str:
    """How a job is named to people: the office's number and the engineers' id, both
    (``SR-2026-0001 (J-0001)``); one of them alone when they are the same or one is missing."""
    if not number or number == job_id:
        return job_id or number
    return f"{number} ({job_id})" if job_id else number


def stock_id(location: str, sku: str) -> str:
    return f"{location}|{sku}"


def van(user_id: str) -> str:
    """The stock location of an engineer's van."""
    return f"van:{user_id}"


def to_builtins(record: Record) -> dict[str, Any]:
    """The record as plain JSON-able data, tag included."""
    return msgspec.to_builtins(record)  # type: ignore[no-any-return]


def from_builtins(data: dict[str, Any]) -> Record:
    """Rebuild a record from plain data (validating it)."""
    return cast(Record, msgspec.convert(data, Record))
