"""Records on the server: one table, one row per record, a version from one store-wide sequence.

Every change to a record, including its deletion (a tombstone), takes the next value of the
store's sequence as the record's ``version``. The ``records`` table ordered by version *is* the
change log a pull reads: it holds the latest state of each record, so a laptop that was away
for months downloads each record once, not every intermediate edit.

Three columns index what scopes need (see ``scopes.py``): ``parent`` (the record a record hangs
off: a site's customer, an equipment's or drawing's site, a job's site, an event's job, a stock
row's location, a conflict's job), ``assignee`` (a job's engineer, a conflict's engineer) and
``status`` (a job's status, a conflict's state).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Generic, Iterable, Iterator, Literal, NamedTuple, TypeVar, overload

import msgspec

from sync_protocol import Record, entity_of
from sync_protocol.bounds import clip
from sync_protocol.merge import FieldVersion, Writer
from sync_protocol.records import Conflict, Customer, Drawing, Equipment, Job, JobEvent, Part, Site, Stock

from .base import Tx, is_postgres, lock_change_log, one_of, rows_later

log = logging.getLogger("fieldsync.store")
_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()
_versions_decoder = msgspec.json.Decoder(dict[str, FieldVersion])


R = TypeVar("R", bound=Record)


class Stored(NamedTuple, Generic[R]):
    """A record as the store holds it: its server version, whether it is a tombstone, and who last
    changed each field at which version (the three-way merge's memory)."""

    record: R
    version: int
    deleted: bool
    field_versions: dict[str, FieldVersion]


def encode_record(record: Record) -> str:
    return _encoder.encode(record).decode()


def decode_record(data: str | bytes) -> Record:
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError:
        record, cuts = within_bounds(data)
        log.warning("%s %s breaks the protocol's bounds; shown cut: %s", entity_of(record), record.id, "; ".join(cuts))
        return record


def within_bounds(data: str | bytes) -> tuple[Record, list[str]]:
    """A record stored before the protocol bounded every list, map and text (``bounds.py``),
    cut to its bounds: one odd record must not break a page (and ``schema._v8`` rewrites them)."""
    record, cuts = clip(json.loads(data), Record)
    return record, cuts


def index_columns(record: Record) -> tuple[str | None, str | None, str | None]:
    """(parent, assignee, status) of a record."""
    if isinstance(record, Site):
        return record.customer_id, None, None
    if isinstance(record, (Drawing, Equipment)):
        return record.site_id, None, None
    if isinstance(record, Stock):
        return record.location, None, None
    if isinstance(record, Job):
        return record.site_id, record.assignee, record.status
    if isinstance(record, JobEvent):
        return record.job_id, None, None
    if isinstance(record, Conflict):
        return record.job_id, record.engineer, record.status
    return None, None, None


def next_version(conn: Tx) -> int:
    """Take the next value of the store-wide sequence (inside the caller's transaction).

    Inside ``Database.write`` the counter is read once and written back once, just before the
    commit: a push writes thousands of records and updating the ``meta`` row for each was a
    sixth of its time. Versions taken in a savepoint that rolls back are skipped, never reused.
    """
    state = getattr(conn, "transaction", None)
    if state is None:
        row = conn.execute(
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'version' "
            "RETURNING CAST(value AS INTEGER)"
        ).fetchone()
        return int(row[0])
    if "version" not in state or "version_written" in state:  # written early: again at the commit
        if "version" not in state:
            lock_change_log(conn)  # versions in commit order across processes (postgres.py)
            asked = state.pop("version_asked", None)
            state["version"] = asked() if asked is not None else _stored_version(conn)
        state.pop("version_written", None)
        conn.before_commit.append(_write_version)  # type: ignore[attr-defined]
    state["version"] += 1
    return int(state["version"])


def ask_version(conn: Tx) -> None:
    """Send the read of the store's version now, for the versions this write transaction takes
    later (``next_version`` reads the answer): inside ``pipelined`` it goes in the block's round
    trip. It takes the change-log lock first, as that read must."""
    state = getattr(conn, "transaction", None)
    if state is None or "version" in state or "version_asked" in state:
        return
    lock_change_log(conn)
    rows = rows_later(conn, conn.execute(_VERSION))
    state["version_asked"] = lambda: int(rows()[0][0])


def write_version(conn: Tx) -> None:
    """Write the counter now, inside the caller's ``pipelined`` block, instead of in a round trip
    of its own before the commit (a push's last block, while it holds the change-log lock). A
    version taken after it is written at the commit as before."""
    state = getattr(conn, "transaction", None)
    before_commit = getattr(conn, "before_commit", [])
    if state is not None and _write_version in before_commit:
        _write_version(conn)
        before_commit.remove(_write_version)
        state["version_written"] = True


def _write_version(conn: Tx) -> None:
    conn.execute("UPDATE meta SET value=? WHERE key='version'", (str(conn.transaction["version"]),))  # type: ignore[attr-defined]


_VERSION = "SELECT value FROM meta WHERE key='version'"


def _stored_version(conn: Tx) -> int:
    return int(conn.execute(_VERSION).fetchone()[0])


def change_mark(conn: Tx) -> int:
    """The store's version before a change this write transaction is about to make: what
    ``audit.append_changes_since`` later compares with. Takes the change-log lock first, so no
    other process's change can land between the mark and this transaction's own versions."""
    lock_change_log(conn)
    return current_version(conn)


def current_version(conn: Tx) -> int:
    state = getattr(conn, "transaction", None)
    if state is not None and "version" in state:
        return int(state["version"])
    return _stored_version(conn)


@overload
def get(
    conn: Tx, entity: Literal["customer"], record_id: str, include_deleted: bool = False
) -> Stored[Customer] | None: ...
@overload
def get(conn: Tx, entity: Literal["site"], record_id: str, include_deleted: bool = False) -> Stored[Site] | None: ...
@overload
def get(
    conn: Tx, entity: Literal["drawing"], record_id: str, include_deleted: bool = False
) -> Stored[Drawing] | None: ...
@overload
def get(
    conn: Tx, entity: Literal["equipment"], record_id: str, include_deleted: bool = False
) -> Stored[Equipment] | None: ...
@overload
def get(conn: Tx, entity: Literal["part"], record_id: str, include_deleted: bool = False) -> Stored[Part] | None: ...
@overload
def get(conn: Tx, entity: Literal["stock"], record_id: str, include_deleted: bool = False) -> Stored[Stock] | None: ...
@overload
def get(conn: Tx, entity: Literal["job"], record_id: str, include_deleted: bool = False) -> Stored[Job] | None: ...
@overload
def get(
    conn: Tx, entity: Literal["event"], record_id: str, include_deleted: bool = False
) -> Stored[JobEvent] | None: ...
@overload
def get(
    conn: Tx, entity: Literal["conflict"], record_id: str, include_deleted: bool = False
) -> Stored[Conflict] | None: ...
@overload
def get(conn: Tx, entity: str, record_id: str, include_deleted: bool = False) -> Stored[Record] | None: ...
def get(conn: Tx, entity: str, record_id: str, include_deleted: bool = False) -> Stored[Any] | None:
    """The record ``entity``/``record_id``, typed by its entity name (``get(c, "job", id).record``
    is a ``Job``), or None (a tombstone too, unless ``include_deleted``)."""
    row = conn.execute(
        "SELECT data, version, deleted, fields FROM records WHERE entity=? AND id=?", (entity, record_id)
    ).fetchone()
    if row is None or (row["deleted"] and not include_deleted):
        return None
    return Stored(
        decode_record(row["data"]), row["version"], bool(row["deleted"]), _versions_decoder.decode(row["fields"])
    )


def get_many(tx: Tx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Stored[Any] | None]:
    """``get`` for many records at once (tombstones are None), in a few statements, so a push
    batch reads the jobs, equipment and stock rows it touches before it decides."""
    return get_many_later(tx, keys)()


def get_many_later(tx: Tx, keys: Iterable[tuple[str, str]]) -> Callable[[], dict[tuple[str, str], Stored[Any] | None]]:
    """``get_many`` in two steps: its statements now, its records when the result is called.
    Inside ``pipelined`` on PostgreSQL the statements go with the block's others, in one round
    trip: a push reads its batch's records so in the round trip that takes the change-log lock."""
    wanted = list(dict.fromkeys(keys))
    cursors = _live_rows_joined(tx, wanted) if is_postgres(tx) else _live_rows_by_entity(tx, wanted)
    results = [rows_later(tx, cursor) for cursor in cursors]

    def records() -> dict[tuple[str, str], Stored[Any] | None]:
        out: dict[tuple[str, str], Stored[Any] | None] = dict.fromkeys(wanted)
        for rows in results:
            for entity, record_id, data, version, fields in rows():
                out[(entity, record_id)] = Stored(decode_record(data), version, False, _versions_decoder.decode(fields))
        return out

    return records


def _live_rows_by_entity(tx: Tx, keys: list[tuple[str, str]]) -> Iterator[Any]:
    """Cursors over (entity, id, data, version, fields) of the live records among ``keys`` on
    SQLite: one statement per entity and 500 ids, each a function call rather than a round trip."""
    by_entity: dict[str, list[str]] = {}
    for entity, record_id in keys:
        by_entity.setdefault(entity, []).append(record_id)
    for entity, ids in by_entity.items():
        for start in range(0, len(ids), 500):
            among, params = one_of(tx, "id", ids[start : start + 500])
            yield tx.execute(
                f"SELECT entity, id, data, version, fields FROM records WHERE entity=? AND {among} AND deleted=0",
                [entity, *params],
            )


def _live_rows_joined(tx: Tx, keys: list[tuple[str, str]]) -> list[Any]:
    """The same on PostgreSQL, as cursors whose rows are read later: one statement for every
    entity (the keys as two arrays, joined on the primary key), where one per entity cost a
    round trip each inside a push's change-log lock."""
    return [
        tx.execute(
            "SELECT r.entity, r.id, r.data, r.version, r.fields FROM unnest(?::text[], ?::text[]) AS k(entity, id) "
            "JOIN records r ON r.entity = k.entity AND r.id = k.id WHERE r.deleted = 0",
            [[entity for entity, _ in chunk], [record_id for _, record_id in chunk]],
        )
        for chunk in (keys[start : start + 1000] for start in range(0, len(keys), 1000))
    ]


def field_versions_json(stamps: dict[str, FieldVersion]) -> str:
    return _encoder.encode(stamps).decode()


def stamped(
    base: Stored[Any] | None, version: int, writer: Writer | None, changed: Iterable[str]
) -> dict[str, FieldVersion] | None:
    """``base``'s field versions with every field in ``changed`` stamped by ``writer`` at
    ``version``; None without ``base`` (the caller decides what a record without one keeps)."""
    stamps = dict(base.field_versions) if base is not None else None
    names = list(changed)
    if names:
        if writer is None or stamps is None:
            raise ValueError("stamping changed fields needs the writer and the base record")
        mine = FieldVersion(version, writer.hlc, writer.side, writer.device, writer.user)
        stamps.update((name, mine) for name in names)
    return stamps


def put(
    conn: Tx,
    record: Record,
    base: Stored[Any] | None = None,
    *,
    writer: Writer | None = None,
    changed: Iterable[str] = (),
) -> int:
    """The one way to write a record: it takes the store's next version, which becomes the
    record's ``version``; returns it.

    Field versions (who last changed each field, for later three-way merges) are ``base``'s,
    with every field in ``changed`` stamped ``FieldVersion(version, writer)``: the version the
    record is written under, so a patch made on this version is never judged concurrent with it.
    Without ``base`` a new record starts with none, and an existing one keeps those it has.
    """
    version = next_version(conn)
    stamps = stamped(base, version, writer, changed)
    parent, assignee, status = index_columns(record)
    keep_fields = "records.fields" if stamps is None else "excluded.fields"
    conn.execute(
        "INSERT INTO records(entity, id, version, deleted, parent, assignee, status, data, fields) "
        "VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?) ON CONFLICT(entity, id) DO UPDATE SET "
        "version=excluded.version, deleted=0, parent=excluded.parent, assignee=excluded.assignee, "
        f"status=excluded.status, data=excluded.data, fields={keep_fields}",
        (
            entity_of(record),
            record.id,
            version,
            parent,
            assignee,
            status,
            encode_record(record),
            _encoder.encode(stamps or {}).decode(),
        ),
    )
    return version


def put_many(conn: Tx, records: Iterable[Record]) -> int:
    """Insert new records in bulk (fixtures, benchmarks); returns how many."""
    rows = []
    for record in records:
        parent, assignee, status = index_columns(record)
        rows.append((entity_of(record), record.id, next_version(conn), parent, assignee, status, encode_record(record)))
    conn.executemany(
        "INSERT INTO records(entity, id, version, deleted, parent, assignee, status, data) "
        "VALUES (?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT(entity, id) DO UPDATE SET "
        "version=excluded.version, deleted=0, parent=excluded.parent, assignee=excluded.assignee, "
        "status=excluded.status, data=excluded.data",
        rows,
    )
    return len(rows)


def delete(conn: Tx, entity: str, record_id: str) -> int | None:
    """Tombstone a record: laptops holding it learn of it through their scope diff."""
    version = next_version(conn)
    cur = conn.execute(
        "UPDATE records SET deleted=1, version=? WHERE entity=? AND id=? AND deleted=0", (version, entity, record_id)
    )
    return version if cur.rowcount else None


def exists(conn: Tx, entity: str, record_id: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM records WHERE entity=? AND id=? AND deleted=0", (entity, record_id)).fetchone()
        is not None
    )


def job_events(conn: Tx, job_id: str) -> list[JobEvent]:
    rows = conn.execute(
        "SELECT data FROM records WHERE entity='event' AND parent=? AND deleted=0", (job_id,)
    ).fetchall()
    return [decode_record(r[0]) for r in rows]  # type: ignore[misc]


def checked_in_jobs(conn: Tx, job_ids: Iterable[str] | None = None) -> set[str]:
    """The jobs (of ``job_ids``, or all) that hold a check-in event: ``sync_protocol.sla.checked_in``
    for many jobs at once, answered by one query instead of decoding every event."""
    sql = (
        "SELECT DISTINCT parent FROM records WHERE entity='event' AND deleted=0 "
        "AND json_extract(data, '$.payload.kind')='checkin'"
    )
    if job_ids is None:
        return {row[0] for row in conn.execute(sql)}
    ids, out = list(job_ids), set[str]()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        among, params = one_of(conn, "parent", chunk)
        out.update(row[0] for row in conn.execute(f"{sql} AND {among}", params))
    return out


def job_events_received(conn: Tx, job_id: str) -> list[tuple[JobEvent, int]]:
    """A job's events with their versions: events are never changed, so the version is the order
    the server received them in (which a laptop's clock cannot move)."""
    rows = conn.execute(
        "SELECT data, version FROM records WHERE entity='event' AND parent=? AND deleted=0", (job_id,)
    ).fetchall()
    return [(event, r[1]) for r in rows if isinstance(event := decode_record(r[0]), JobEvent)]


def as_plain(record: Record) -> dict[str, Any]:
    return json.loads(encode_record(record))  # type: ignore[no-any-return]


def known_ids(tx: Tx, entity: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` the store holds for ``entity`` (tombstones too), one query per 500 ids."""
    wanted = list(ids)
    known: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        among, params = one_of(tx, "id", chunk)
        known.update(
            row[0] for row in tx.execute(f"SELECT id FROM records WHERE entity=? AND {among}", [entity, *params])
        )
    return known


def ids_with_status(tx: Tx, entity: str, statuses: Iterable[str]) -> list[str]:
    """Ids of the live records of ``entity`` (jobs, conflicts) in one of ``statuses``, by id."""
    wanted = sorted(statuses)
    rows = tx.execute(
        f"SELECT id FROM records WHERE entity=? AND deleted=0 AND status IN ({','.join('?' * len(wanted))}) "
        "ORDER BY id",
        [entity, *wanted],
    )
    return [row[0] for row in rows]


def children(tx: Tx, entity: str, parent: str) -> list[Any]:
    """The live records of ``entity`` hanging off ``parent`` (a site's equipment), by id."""
    rows = tx.execute(
        "SELECT data FROM records WHERE entity=? AND parent=? AND deleted=0 ORDER BY id", (entity, parent)
    ).fetchall()
    return [decode_record(r[0]) for r in rows]


def live(tx: Tx, entity: str) -> list[tuple[Any, int]]:
    """Every live record of ``entity`` with its version, in no particular order."""
    return [
        (decode_record(r[0]), r[1])
        for r in tx.execute("SELECT data, version FROM records WHERE entity=? AND deleted=0", (entity,))
    ]


def all_ids(tx: Tx, entity: str) -> list[str]:
    """Every id of ``entity``, tombstones too (numbering must not reuse a deleted job's)."""
    return [row[0] for row in tx.execute("SELECT id FROM records WHERE entity=?", (entity,))]


def sites_with_handover(tx: Tx) -> list[Site]:
    """Live sites that have a handover date (preventive maintenance plans from it), by id."""
    rows = tx.execute(
        "SELECT data FROM records WHERE entity='site' AND deleted=0 "
        "AND json_extract(data, '$.handover_date') IS NOT NULL ORDER BY id"
    ).fetchall()
    return [decode_record(r[0]) for r in rows]  # type: ignore[misc]


def open_conflict(tx: Tx, kind: str, job_id: str, engineer: str | None) -> str | None:
    """The id of an open conflict of ``kind`` already raised for this job and engineer, if any."""
    row = tx.execute(
        "SELECT id FROM records WHERE entity='conflict' AND parent=? AND status='open' AND deleted=0 "
        "AND assignee IS ? AND json_extract(data, '$.kind')=?",
        (job_id, engineer, kind),
    ).fetchone()
    return None if row is None else str(row[0])


def serial_holder(tx: Tx, serial: str) -> tuple[str, str] | None:
    """(equipment_id, job_id) where ``serial`` is installed, as far as the store knows."""
    row = tx.execute("SELECT equipment_id, job_id FROM serials WHERE serial=?", (serial,)).fetchone()
    return None if row is None else (row[0], row[1])


def swap_serial(tx: Tx, equipment_id: str, serial_out: str, serial_in: str, event_id: str, job_id: str) -> None:
    """``serial_out`` left ``equipment_id`` and ``serial_in`` is installed there now."""
    tx.execute("DELETE FROM serials WHERE serial=? AND equipment_id=?", (serial_out, equipment_id))
    tx.execute(
        "INSERT INTO serials(serial, equipment_id, event_id, job_id) VALUES (?,?,?,?) "
        "ON CONFLICT(serial) DO UPDATE SET equipment_id=excluded.equipment_id, "
        "event_id=excluded.event_id, job_id=excluded.job_id",
        (serial_in, equipment_id, event_id, job_id),
    )
