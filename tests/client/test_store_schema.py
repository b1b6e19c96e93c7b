"""The laptop store's schema: a store made by an older client is brought up to date with what
it holds, and the serial lookups of recording a part swap, and the check-ins Today's order
depends on, read an index, not every event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from field_client import replica, view
from field_client.store import MIGRATIONS, SCHEMA_VERSION, LocalStore, connect, set_meta
from sync_protocol import Checkin, JobEvent, Note, PartSwap
from sync_protocol.records import Equipment

AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def _event(event_id: str, payload: PartSwap | Note | Checkin, job_id: str = "J-0001") -> JobEvent:
    return JobEvent(
        id=event_id,
        job_id=job_id,
        author="u-li-wei",
        device_id="dev-1",
        hlc="0193f1c2a4b20000",
        at=AT,
        payload=payload,
    )


SWAP = _event("E-1", PartSwap(equipment_id="EQ-001", sku="PSU-750W", serial_out="OLD-1", serial_in="NEW-1"))
NOTE = _event("E-2", Note(text="serial NEW-1 looks fine"))
EQUIPMENT = Equipment(id="EQ-001", site_id="S-01", model="R740", serial="SN-740")
RECORDS = [SWAP, NOTE, EQUIPMENT]


def _store_of_schema(path: Path, version: int, records: list[Any]) -> None:
    """A store as a client of schema ``version`` left it, holding ``records`` (schema 4: serials
    found by expression indexes; schema 5: no event kinds)."""
    conn = connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for migration in MIGRATIONS[:version]:
        migration(conn)
    set_meta(conn, "schema_version", str(version))
    conn.executemany(
        "INSERT INTO records(entity, id, version, parent, data) VALUES (?,?,?,?,?)",
        [row[:5] for row in (replica.as_row(r, 1) for r in records)],
    )
    conn.close()


def _found(store: LocalStore) -> tuple[list[str], list[str], list[str]]:
    return store.read(
        lambda c: (
            sorted(e.id for e in view.swaps_of_serial(c, "NEW-1")),
            sorted(e.id for e in view.swaps_of_serial(c, "OLD-1")),
            [e.id for e in view.equipment_with_serial(c, "SN-740")],
        )
    )


def test_a_store_of_schema_4_keeps_finding_its_serials_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "field.db"
    _store_of_schema(path, 4, RECORDS)
    store = LocalStore(path)
    try:
        assert store.read(
            lambda c: c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        ) == str(SCHEMA_VERSION)
        assert _found(store) == (["E-1"], ["E-1"], ["EQ-001"])
    finally:
        store.close()


def test_pulled_records_carry_their_serials_and_the_lookups_read_an_index(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "field.db")
    try:
        store.write(lambda c: replica.put_many(c, [replica.as_row(r, 1, msgspec.json.encode(r)) for r in RECORDS]))
        assert _found(store) == (["E-1"], ["E-1"], ["EQ-001"])
        plans = store.read(
            lambda c: [
                " ".join(str(row[3]) for row in c.execute("EXPLAIN QUERY PLAN " + sql, ("x",)))
                for sql in (
                    "SELECT data FROM records WHERE serial_in=?1 AND entity='event'",
                    "SELECT data FROM records WHERE serial_out=?1 AND entity='event'",
                )
            ]
        )
        assert all("USING INDEX records_serial" in plan for plan in plans), plans
    finally:
        store.close()


def test_a_record_sent_again_without_its_serial_forgets_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "field.db")
    try:
        store.write(lambda c: replica.put(c, EQUIPMENT, 1))
        store.write(lambda c: replica.put(c, msgspec.structs.replace(EQUIPMENT, serial="SN-NEW"), 2))
        assert store.read(lambda c: [e.id for e in view.equipment_with_serial(c, "SN-740")]) == []
        assert store.read(lambda c: [e.id for e in view.equipment_with_serial(c, "SN-NEW")]) == ["EQ-001"]
    finally:
        store.close()


def test_a_row_carries_the_serials_and_the_event_kind_of_its_record() -> None:
    assert replica.as_row(SWAP, 3)[5:] == ("NEW-1", "OLD-1", "part_swap")
    assert replica.as_row(NOTE, 3)[5:] == (None, None, "note")
    assert replica.as_row(EQUIPMENT, 3)[3:4] + replica.as_row(EQUIPMENT, 3)[5:] == ("S-01", "SN-740", None, None)


CHECKIN = _event("E-3", Checkin(note="at the gate"), job_id="J-0002")


def test_a_store_of_schema_5_finds_its_check_ins_after_the_upgrade(tmp_path: Path) -> None:
    """Migration 6 reads the kind of the events a store already holds."""
    path = tmp_path / "field.db"
    _store_of_schema(path, 5, [*RECORDS, CHECKIN])
    store = LocalStore(path)
    try:
        assert store.read(view.checked_in_jobs) == {"J-0002"}
        plan = store.read(
            lambda c: " ".join(
                str(row[3])
                for row in c.execute("EXPLAIN QUERY PLAN SELECT DISTINCT parent FROM records WHERE kind='checkin'")
            )
        )
        assert "records_checkins" in plan, plan
    finally:
        store.close()


def test_a_check_in_is_found_held_or_still_in_the_outbox(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "field.db")
    try:
        store.write(lambda c: replica.put_many(c, [replica.as_row(r, 1) for r in RECORDS]))
        assert store.read(view.checked_in_jobs) == set()
        store.write(lambda c: replica.put(c, CHECKIN, 2))
        assert store.read(view.checked_in_jobs) == {"J-0002"}
        store.write(lambda c: replica.remove(c, "event", "E-3", set()))  # left the scope
        assert store.read(view.checked_in_jobs) == set()
    finally:
        store.close()
