"""The server's records as this laptop last saw them (the ``records`` table).

A pull writes here and only here; the outbox is never touched by a pull. Records arrive whole
(``Upsert``) with their server ``version``, which a later edit names as its ``base_version``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import msgspec

from sync_protocol import PartSwap, Record, entity_of
from sync_protocol.events import kind_of
from sync_protocol.records import Conflict, Drawing, Equipment, Job, JobEvent, Site, Stock

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Record)


class Held(NamedTuple):
    """A record as held on the laptop."""

    record: Record
    version: int
    kept: bool  # the server took it out of scope; held only for pending work


# The field naming the record a record hangs off, by type (a dict lookup: a pull does it per record).
_PARENT_FIELD: dict[type, str] = {
    Site: "customer_id",
    Drawing: "site_id",
    Equipment: "site_id",
    Job: "site_id",
    Stock: "location",
    JobEvent: "job_id",
    Conflict: "job_id",
}

# ``data`` may be bound as bytes (a pulled record's JSON as received, valid UTF-8 since it decoded):
# the CAST stores it as the TEXT it is, without making a Python string of it first.
_UPSERT = (
    "INSERT INTO records(entity, id, version, parent, data, serial_in, serial_out, kind, kept) "
    "VALUES (?,?,?,?,CAST(? AS TEXT),?,?,?,0) "
    "ON CONFLICT(entity, id) DO UPDATE SET version=excluded.version, parent=excluded.parent, "
    "data=excluded.data, serial_in=excluded.serial_in, serial_out=excluded.serial_out, kind=excluded.kind, kept=0"
)

Row = tuple[str, str, int, str | None, "str | bytes | msgspec.Raw", str | None, str | None, str | None]
# The columns read off a record beside its JSON: serial in, serial out (store migration 5), and
# an event's kind (migration 6).
Columns = tuple[str | None, str | None, str | None]
_NO_COLUMNS: Columns = (None, None, None)


def _event_columns(event: JobEvent) -> Columns:
    payload = event.payload
    kind = kind_of(payload)
    if type(payload) is PartSwap:
        return (payload.serial_in, payload.serial_out, kind)
    return (None, None, kind)


def _equipment_columns(equipment: Equipment) -> Columns:
    return (equipment.serial, None, None)


class _Shape(NamedTuple):
    """What storing a record of one type needs: its entity name, the field naming its parent,
    and how to read its columns (serials, an event's kind)."""

    entity: str
    parent_field: str | None
    columns: Callable[[Any], Columns] | None


_COLUMNS: dict[type, Callable[[Any], Columns]] = {
    JobEvent: _event_columns,
    Equipment: _equipment_columns,
}
_SHAPES: dict[type, _Shape] = {}


def _shape(record: Record) -> _Shape:
    """One dict lookup per record (a first pull stores a hundred thousand of them)."""
    cls = type(record)
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = _Shape(entity_of(record), _PARENT_FIELD.get(cls), _COLUMNS.get(cls))
    return shape


def as_row(record: Record, version: int, data: str | bytes | msgspec.Raw | None = None) -> Row:
    """The ``records`` row of a server record. ``data`` is the record's JSON exactly as the server
    sent it, when it came as JSON (already validated by decoding it into ``record``)."""
    entity, parent_field, columns = _shape(record)
    serial_in, serial_out, kind = _NO_COLUMNS if columns is None else columns(record)
    return (
        entity,
        record.id,
        version,
        None if parent_field is None else getattr(record, parent_field),
        _encoder.encode(record).decode() if data is None else data,
        serial_in,
        serial_out,
        kind,
    )


def put(conn: sqlite3.Connection, record: Record, version: int) -> None:
    """Store the server's version of a record (applying the same upsert twice changes nothing)."""
    conn.execute(_UPSERT, as_row(record, version))


def put_kept(conn: sqlite3.Connection, kept: Sequence[tuple[Record, int]]) -> None:
    """Store the events this laptop's push appended, at the versions the answer gave them,
    unless it holds a later version already (a pull brought one)."""
    conn.executemany(_UPSERT + " WHERE excluded.version > records.version", [as_row(r, v) for r, v in kept])


def put_many(conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
    """``put`` for many records in one statement, in order (a later row of the same record wins)."""
    conn.executemany(_UPSERT, rows)


def decode(data: str | bytes) -> Record:
    return _decoder.decode(data)


def get(conn: sqlite3.Connection, entity: str, record_id: str) -> Held | None:
    row = conn.execute(
        "SELECT data, version, kept FROM records WHERE entity=? AND id=?", (entity, record_id)
    ).fetchone()
    return None if row is None else Held(_decoder.decode(row["data"]), row["version"], bool(row["kept"]))


def all_of(conn: sqlite3.Connection, entity: str, parent: str | None = None) -> list[Held]:
    if parent is None:
        rows = conn.execute("SELECT data, version, kept FROM records WHERE entity=? ORDER BY id", (entity,))
    else:
        rows = conn.execute(
            "SELECT data, version, kept FROM records WHERE entity=? AND parent=? ORDER BY id", (entity, parent)
        )
    return [Held(_decoder.decode(r["data"]), r["version"], bool(r["kept"])) for r in rows]


def held_ids(conn: sqlite3.Connection, entity: str, ids: list[str]) -> set[str]:
    """Which of these records the laptop holds already."""
    held: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        held.update(
            r[0]
            for r in conn.execute(
                f"SELECT id FROM records WHERE entity=? AND id IN ({','.join('?' * len(chunk))})", (entity, *chunk)
            )
        )
    return held


def find_id(conn: sqlite3.Connection, entity: str, text: str) -> str | None:
    """The id of the record ``text`` names: its id in any case or, for a job, the number the
    office shows (``SR-2026-0001``). None if it names none, or more than one."""
    rows = conn.execute(
        "SELECT id FROM records WHERE entity=?1 AND id=?2 COLLATE NOCASE "
        "UNION SELECT id FROM records WHERE entity=?1 AND ?1='job' "
        "AND json_extract(data, '$.number')=?2 COLLATE NOCASE LIMIT 2",
        (entity, text),
    ).fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


def names(conn: sqlite3.Connection, entity: str) -> list[str]:
    """Every id of this entity on the laptop, and every job number: what a typo may have meant."""
    if entity == "job":
        rows = conn.execute("SELECT id, json_extract(data, '$.number') FROM records WHERE entity='job'")
        return [name for row in rows for name in row if name]
    return [r[0] for r in conn.execute("SELECT id FROM records WHERE entity=?", (entity,))]


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


def needed_by_outbox(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """Records the pending outbox still needs: its jobs with their events, sites, customers,
    equipment and drawings, and the records it patches. These stay when the server removes them."""
    needed: set[tuple[str, str]] = set()
    for row in conn.execute("SELECT DISTINCT entity, record_id FROM outbox WHERE op='patch'"):
        needed.add((row[0], row[1]))
    jobs = [r[0] for r in conn.execute("SELECT DISTINCT job_id FROM outbox WHERE job_id IS NOT NULL")]
    for job_id in jobs:
        needed.add(("job", job_id))
        for (event_id,) in conn.execute("SELECT id FROM records WHERE entity='event' AND parent=?", (job_id,)):
            needed.add(("event", event_id))
        held = get(conn, "job", job_id)
        if held is None:
            continue
        site_id = held.record.site_id  # type: ignore[union-attr]
        needed.add(("site", site_id))
        site = get(conn, "site", site_id)
        if site is not None:
            needed.add(("customer", site.record.customer_id))  # type: ignore[union-attr]
        for entity in ("equipment", "drawing"):
            for (rid,) in conn.execute("SELECT id FROM records WHERE entity=? AND parent=?", (entity, site_id)):
                needed.add((entity, rid))
    return needed


def remove(conn: sqlite3.Connection, entity: str, record_id: str, needed: set[tuple[str, str]]) -> bool:
    """Apply a server ``remove``; a record pending work needs is kept instead. True if removed."""
    if (entity, record_id) in needed:
        conn.execute("UPDATE records SET kept=1 WHERE entity=? AND id=?", (entity, record_id))
        return False
    conn.execute("DELETE FROM records WHERE entity=? AND id=?", (entity, record_id))
    return True


def remove_many(conn: sqlite3.Connection, keys: list[tuple[str, str]], needed: set[tuple[str, str]]) -> tuple[int, int]:
    """``remove`` for many records at once; returns how many were (removed, kept for pending
    work). A remove of a record this laptop does not hold counts as neither: a page sent again
    after a lost one may name records of the lost page that left the scope meanwhile."""
    kept = conn.executemany("UPDATE records SET kept=1 WHERE entity=? AND id=?", [k for k in keys if k in needed])
    gone = conn.executemany("DELETE FROM records WHERE entity=? AND id=?", [k for k in keys if k not in needed])
    return gone.rowcount, kept.rowcount


def release_kept(conn: sqlite3.Connection) -> int:
    """Drop the records kept for pending work once that work is pushed; returns how many."""
    kept = [(r[0], r[1]) for r in conn.execute("SELECT entity, id FROM records WHERE kept=1")]
    if not kept:  # the usual case, answered from the records_kept index: nothing to work out
        return 0
    needed = needed_by_outbox(conn)
    gone = [key for key in kept if key not in needed]
    conn.executemany("DELETE FROM records WHERE entity=? AND id=?", gone)
    return len(gone)


def drop_for_reset(conn: sqlite3.Connection) -> None:
    """A ``cursor_reset``: forget the server's records, except those pending work needs."""
    needed = needed_by_outbox(conn)
    held: Iterable[tuple[str, str]] = [(r[0], r[1]) for r in conn.execute("SELECT entity, id FROM records")]
    conn.executemany("DELETE FROM records WHERE entity=? AND id=?", [key for key in held if key not in needed])
    conn.execute("UPDATE records SET kept=1")
