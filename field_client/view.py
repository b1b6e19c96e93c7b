"""What the engineer sees: the server's records with the pending outbox applied on top.

The laptop never edits its copy of a server record; it shows the record as the server last
sent it, overlaid with the edits and events still waiting in the outbox. So a pull can refresh
the server's side at any time without touching unsynced work, and what is on screen is always
"the server's state plus my changes".
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

import msgspec

from sync_protocol import AppendEvent, Checkin, Job, JobEvent, PartSwap, PatchRecord, Record, stock_id, van
from sync_protocol.records import Stock

from . import outbox, replica
from .store import get_meta


class EventView(NamedTuple):
    event: JobEvent
    pending: bool  # still in the outbox


def record(conn: sqlite3.Connection, entity: str, record_id: str) -> Record | None:
    """A record with its pending patches applied, or None if the laptop does not hold it."""
    held = replica.get(conn, entity, record_id)
    if held is None:
        return None
    return _patched(held.record, _patches(conn, entity).get(record_id, []))


def records(conn: sqlite3.Connection, entity: str, parent: str | None = None) -> list[Record]:
    patches = _patches(conn, entity)
    return [_patched(h.record, patches.get(h.record.id, [])) for h in replica.all_of(conn, entity, parent)]


def version(conn: sqlite3.Connection, entity: str, record_id: str) -> int | None:
    """The server version the laptop holds: the base of the next edit."""
    held = replica.get(conn, entity, record_id)
    return None if held is None else held.version


def events(conn: sqlite3.Connection, job_id: str) -> list[EventView]:
    """A job's events, synced and pending, in clock order."""
    synced = {h.record.id: EventView(h.record, False) for h in replica.all_of(conn, "event", job_id)}
    for mutation in outbox.mutations(conn):
        if isinstance(mutation, AppendEvent) and mutation.event.job_id == job_id:
            synced.setdefault(mutation.event.id, EventView(mutation.event, True))
    return sorted(synced.values(), key=lambda v: (v.event.hlc, v.event.id))


def checked_in_jobs(conn: sqlite3.Connection) -> set[str]:
    """The jobs an engineer has checked in on (``sla.checked_in`` for every job at once): a held
    check-in event, found through its partial index (store migration 6), or one still in the
    outbox. Today orders all jobs by deadline, and decoding each job's events to learn this took
    seconds on a laptop holding a hundred thousand."""
    found = {row[0] for row in conn.execute("SELECT DISTINCT parent FROM records WHERE kind='checkin'")}
    for mutation in outbox.mutations(conn):
        if isinstance(mutation, AppendEvent) and isinstance(mutation.event.payload, Checkin):
            found.add(mutation.event.job_id)
    return found


def swaps_of_serial(conn: sqlite3.Connection, serial: str) -> list[JobEvent]:
    """Every part swap, synced or pending, that put this serial in or took it out. Searched in
    SQL: a laptop may hold a hundred thousand events, and the engineer is waiting on site."""
    rows = conn.execute(  # each arm is a search of its partial index (store migration 5)
        "SELECT data FROM records WHERE serial_in=?1 AND entity='event' "
        "UNION SELECT data FROM records WHERE serial_out=?1 AND entity='event'",
        (serial,),
    )
    found = {e.id: e for e in (replica.decode(r[0]) for r in rows)}
    for mutation in outbox.mutations(conn):
        if (
            isinstance(mutation, AppendEvent)
            and isinstance(mutation.event.payload, PartSwap)
            and serial in (mutation.event.payload.serial_in, mutation.event.payload.serial_out)
        ):
            found.setdefault(mutation.event.id, mutation.event)
    return list(found.values())  # type: ignore[arg-type]


def equipment_with_serial(conn: sqlite3.Connection, serial: str) -> list[Record]:
    rows = conn.execute("SELECT data FROM records WHERE serial_in=? AND entity='equipment'", (serial,))
    return [replica.decode(r[0]) for r in rows]


def jobs(conn: sqlite3.Connection) -> list[Job]:
    return sorted(records(conn, "job"), key=lambda j: (j.severity, j.number))


def van_stock(conn: sqlite3.Connection, user_id: str) -> list[Stock]:
    """Van stock as the engineer will find it: the server's counts minus pending part swaps."""
    location = van(user_id)
    stock = {s.sku: s for s in records(conn, "stock", location)}
    for mutation in outbox.mutations(conn):
        if isinstance(mutation, AppendEvent) and isinstance(mutation.event.payload, PartSwap):
            swap = mutation.event.payload
            if (swap.location or location) != location:
                continue
            held = stock.get(swap.sku, Stock(id=stock_id(location, swap.sku), location=location, sku=swap.sku, qty=0))
            stock[swap.sku] = msgspec.structs.replace(held, qty=held.qty - swap.qty)
    return sorted(stock.values(), key=lambda s: s.sku)


def open_conflicts(conn: sqlite3.Connection) -> list[Record]:
    return [c for c in records(conn, "conflict") if c.status == "open"]


def pending_count(conn: sqlite3.Connection, job_id: str | None = None) -> int:
    if job_id is None:
        return outbox.count(conn)
    return int(conn.execute("SELECT count(*) FROM outbox WHERE job_id=?", (job_id,)).fetchone()[0])


def pending_by_job(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        r[0]: r[1] for r in conn.execute("SELECT job_id, count(*) FROM outbox WHERE job_id IS NOT NULL GROUP BY job_id")
    }


def identity(conn: sqlite3.Connection) -> dict[str, Any]:
    keys = ("server_url", "device_id", "user_id", "user_name", "role", "last_sync_at")
    return {k: get_meta(conn, k) for k in keys}


def _patches(conn: sqlite3.Connection, entity: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    rows = conn.execute("SELECT seq FROM outbox WHERE op='patch' AND entity=? LIMIT 1", (entity,)).fetchone()
    if rows is None:
        return out
    for mutation in outbox.mutations(conn):
        if isinstance(mutation, PatchRecord) and mutation.entity == entity:
            out.setdefault(mutation.id, []).append(mutation.fields)
    return out


def _patched(rec: Record, patches: list[dict[str, Any]]) -> Record:
    if not patches:
        return rec
    merged = msgspec.to_builtins(rec)
    for fields in patches:
        merged.update(fields)
    return msgspec.convert(merged, type(rec))
