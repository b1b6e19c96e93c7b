"""A push batch's writes held in memory, then written set-based: one statement per table.

Why: a push of 5,000 part swaps wrote each event, each van-stock row and each serial with its
own statements, in a savepoint per mutation; a third of its time went to SQL calls and most of
the rest to their overhead. ``Pending`` takes the same writes in the same order (each record
still takes the store's next version, so versions, field versions and the audit chain are what
the per-mutation path gave) but keeps them in memory; ``flush`` writes the final state of each
touched record with one ``executemany`` (on PostgreSQL one ``INSERT ... SELECT FROM json_to_recordset``)
and the serials with one statement each way. A record written twice in a batch (the van's stock
row, once per swap) is written once, at its last version: the records table holds latest
states only, so nothing a pull or a verify reads changes.

Reads of a batch go through ``get`` first (what the batch wrote), then the store. What the
store is asked in SQL while writes wait here (a job's events, scope tests of a patch) must
``flush`` first: ``server.push`` does so before anything but job events.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from sync_protocol import Record, entity_of
from sync_protocol.merge import Writer
from sync_protocol.records import Conflict

from .audit import Change
from .base import Tx, bulk_insert, rows_later
from .records import Stored, encode_record, get_many, index_columns, next_version, field_versions_json, stamped

_CHUNK = 500


def origin_mark(device_id: str, version: int) -> str:
    """``records.origin``: this version of the record is the event ``device_id`` appended and
    keeps. Any later write moves the version past the mark, so no other write needs to clear it."""
    return f"{device_id}@{version}"


class Pending:
    """The batch's writes not yet in the store: records by (entity, id) and serials by serial."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], Stored[Any]] = {}
        self._rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._keep_fields: set[tuple[str, str]] = set()
        self._since: dict[tuple[str, str], Change] = {}  # written since ``take_writes``
        self.serials: dict[str, tuple[str, str, str] | None] = {}  # serial -> (equipment, event, job)
        self._serials_read: set[str] = set()
        self._serials_changed: set[str] = set()
        self._open_conflicts: dict[tuple[str, str | None, str | None], str] = {}

    def __bool__(self) -> bool:
        return bool(self._rows) or bool(self._serials_changed)

    def get(self, entity: str, record_id: str) -> Stored[Any] | None:
        return self.records.get((entity, record_id))

    def put(
        self,
        conn: Tx,
        record: Record,
        base: Stored[Any] | None = None,
        *,
        writer: Writer | None = None,
        changed: Iterable[str] = (),
        origin: str | None = None,
    ) -> int:
        """``records.put``, held in memory: takes the next version now; returns it. ``origin``:
        the device that appended this record as its own kept event (``origin_mark``)."""
        version = next_version(conn)
        key = (entity_of(record), record.id)
        stamps = stamped(base, version, writer, changed)
        if stamps is None:
            previous = self.records.get(key)
            if previous is None:
                self._keep_fields.add(key)  # as ``records.put``: a stored record keeps its own
                stamps = {}
            else:
                stamps = dict(previous.field_versions)
        else:
            self._keep_fields.discard(key)
        data = encode_record(record)
        parent, assignee, status = index_columns(record)
        mark = None if origin is None else origin_mark(origin, version)
        self._rows[key] = (key[0], key[1], version, parent, assignee, status, data, mark)
        self.records[key] = Stored(record, version, False, stamps)
        if isinstance(record, Conflict) and record.status == "open":
            self._open_conflicts.setdefault((record.kind, record.job_id, record.engineer), record.id)
        self._since[key] = Change(key[0], key[1], version, False, data, record)
        return version

    def take_writes(self) -> list[Change]:
        """What was written since the last call, each record once at its last version, in
        version order: what ``audit.append_changes_since`` would have read from the store."""
        out = sorted(self._since.values(), key=lambda w: w.version)
        self._since.clear()
        return out

    def open_conflict(self, kind: str, job_id: str, engineer: str | None) -> str | None:
        """An open conflict of ``kind`` this batch raised for the job and engineer, if any."""
        return self._open_conflicts.get((kind, job_id, engineer))

    def serial_holder(self, conn: Tx, serial: str) -> tuple[str, str] | None:
        """(equipment_id, job_id) where ``serial`` is installed, the batch's swaps included."""
        if serial not in self._serials_read:
            self.read_serials(conn, [serial])
        held = self.serials.get(serial)
        return None if held is None else (held[0], held[2])

    def read_serials(self, conn: Tx, serials: Iterable[str]) -> None:
        """Read the holders of ``serials`` the batch has not read or changed, in a few queries."""
        self.read_serials_later(conn, serials)()

    def read_serials_later(self, conn: Tx, serials: Iterable[str]) -> Callable[[], None]:
        """``read_serials`` in two steps, as ``records.get_many_later``: the statements now, the
        holders taken in when the result is called (until then the serials count as unread)."""
        wanted = sorted(set(serials) - self._serials_read)
        results = [
            rows_later(
                conn,
                conn.execute(
                    f"SELECT serial, equipment_id, event_id, job_id FROM serials WHERE serial IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                ),
            )
            for chunk in (wanted[start : start + _CHUNK] for start in range(0, len(wanted), _CHUNK))
        ]

        def take() -> None:
            self._serials_read.update(wanted)
            for rows in results:
                for serial, equipment_id, event_id, job_id in rows():
                    self.serials[serial] = (equipment_id, event_id, job_id)

        return take

    def swap_serial(
        self, conn: Tx, equipment_id: str, serial_out: str, serial_in: str, event_id: str, job_id: str
    ) -> None:
        """``records.swap_serial``, held in memory."""
        if serial_out not in self._serials_read or serial_in not in self._serials_read:
            self.read_serials(conn, [serial_out, serial_in])
        held = self.serials.get(serial_out)
        if held is not None and held[0] == equipment_id:
            self.serials[serial_out] = None
            self._serials_changed.add(serial_out)
        self.serials[serial_in] = (equipment_id, event_id, job_id)
        self._serials_changed.add(serial_in)

    def prefetch(self, conn: Tx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Stored[Any] | None]:
        """The stored records of ``keys`` the batch has not written, one query per entity."""
        wanted = [key for key in keys if key not in self.records]
        return get_many(conn, wanted)

    def flush(self, conn: Tx) -> None:
        """Write everything held, one statement per table and kind of write; then hold nothing."""
        keep: list[tuple[Any, ...]] = []
        replace: list[tuple[Any, ...]] = []
        for key, row in self._rows.items():
            fields = field_versions_json(self.records[key].field_versions)
            (keep if key in self._keep_fields else replace).append((*row, fields))
        _upsert_records(conn, keep, keep_fields=True)
        _upsert_records(conn, replace, keep_fields=False)
        changed = [(serial, self.serials[serial]) for serial in sorted(self._serials_changed)]
        gone = [(serial,) for serial, value in changed if value is None]
        held = [(serial, *value) for serial, value in changed if value is not None]
        if gone:
            conn.executemany("DELETE FROM serials WHERE serial=?", gone)
        if held:
            _upsert_serials(conn, held)
        self.records.clear()
        self._rows.clear()
        self._keep_fields.clear()
        self._since.clear()
        self.serials.clear()
        self._serials_read.clear()
        self._serials_changed.clear()
        self._open_conflicts.clear()


_RECORD_COLUMNS = {
    "entity": "text",
    "id": "text",
    "version": "bigint",
    "parent": "text",
    "assignee": "text",
    "status": "text",
    "data": "text",
    "origin": "text",
    "fields": "text",
}
_RECORD_SET = (
    "version=excluded.version, deleted=0, parent=excluded.parent, assignee=excluded.assignee, "
    "status=excluded.status, data=excluded.data, origin=excluded.origin, fields={fields}"
)


def _upsert_records(conn: Tx, rows: list[tuple[Any, ...]], keep_fields: bool) -> None:
    sets = _RECORD_SET.format(fields="records.fields" if keep_fields else "excluded.fields")
    conflict = f"ON CONFLICT(entity, id) DO UPDATE SET {sets}"
    bulk_insert(conn, "records", _RECORD_COLUMNS, rows, conflict, constants={"deleted": "0"})


def _upsert_serials(conn: Tx, rows: list[tuple[str, str, str, str]]) -> None:
    conflict = (
        "ON CONFLICT(serial) DO UPDATE SET equipment_id=excluded.equipment_id, "
        "event_id=excluded.event_id, job_id=excluded.job_id"
    )
    columns = dict.fromkeys(("serial", "equipment_id", "event_id", "job_id"), "text")
    bulk_insert(conn, "serials", columns, rows, conflict)
