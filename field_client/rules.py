"""The service rules of DOMAIN.md, checked on the laptop at the moment of recording.

The server audits the same facts later; checking them here tells the engineer at once, on
site and offline, while the customer is still in the room. Pure functions over what the laptop
shows (records plus pending work), so the CLI, the Python API and the tests share them.

>>> import datetime as dt
>>> from sync_protocol import Equipment, Part
>>> eq = Equipment(id="EQ-1", site_id="S-1", model="R740", serial="SN1", warranty_end=dt.date(2027, 1, 31))
>>> swap_is_paid(eq, Part(id="PSU", name="PSU"), [], today=dt.date(2026, 11, 28)) is None
True
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from sync_protocol import Backup, CustomerApproval, Equipment, JobEvent, Part, PartSwap, Quote
from sync_protocol.warranty import Warranty, warranty_of

__all__ = [
    "Warranty",
    "approved_quote",
    "has_backup",
    "installed_elsewhere",
    "latest_quote_id",
    "swap_is_paid",
    "warranty_of",
]


def has_backup(events: Iterable[JobEvent]) -> bool:
    """A verified backup, or a waiver with its reason, is on the job (DOMAIN.md step 5)."""
    return any(isinstance(e.payload, Backup) and e.payload.counts_as_backup for e in events)


def swap_is_paid(equipment: Equipment, part: Part, events: Iterable[JobEvent], today: dt.date) -> str | None:
    """Why this swap is paid work, or None when it is free. A part replaced earlier carries its
    own restarted warranty (step 8), which covers replacing it again, not the whole equipment."""
    events = list(events)
    if part.wear_part:
        return f"{part.id} is a wear part, never covered by warranty"
    warranty = warranty_of(equipment, events, today)
    if warranty.covered:
        return None
    if not warranty.reason.startswith("void") and any(
        isinstance(e.payload, PartSwap)
        and e.payload.equipment_id == equipment.id
        and e.payload.sku == part.id
        and e.payload.warranty_until is not None
        and e.payload.warranty_until >= today
        for e in events
    ):
        return None
    return f"{equipment.id}: {warranty.reason}"


def approved_quote(events: Iterable[JobEvent]) -> Quote | None:
    """The latest quote the customer approved, if any."""
    events = sorted(events, key=lambda e: (e.hlc, e.id))
    quotes = {e.id: e.payload for e in events if isinstance(e.payload, Quote)}
    approved = [
        a.payload.quote_event_id
        for a in events
        if isinstance(a.payload, CustomerApproval) and a.payload.approved and a.payload.quote_event_id in quotes
    ]
    return quotes[approved[-1]] if approved else None


def latest_quote_id(events: Iterable[JobEvent]) -> str | None:
    quotes = sorted((e for e in events if isinstance(e.payload, Quote)), key=lambda e: (e.hlc, e.id))
    return quotes[-1].id if quotes else None


def installed_elsewhere(
    serial: str, equipment_id: str, events: Iterable[JobEvent], equipment: Iterable[Equipment]
) -> str | None:
    """The equipment id where this serial is already known to be installed, if not this one."""
    for eq in equipment:
        if eq.serial == serial and eq.id != equipment_id:
            return eq.id
    where: dict[str, str] = {}
    for e in sorted(events, key=lambda e: (e.hlc, e.id)):
        if isinstance(e.payload, PartSwap):
            where.pop(e.payload.serial_out, None)
            where[e.payload.serial_in] = e.payload.equipment_id
    other = where.get(serial)
    return other if other and other != equipment_id else None
