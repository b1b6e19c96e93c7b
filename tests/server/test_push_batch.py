"""A batch's events are decided and applied in memory, then written set-based (``storage.batch``):
within one batch, each mutation must still see what the ones before it did, exactly as when
each was a push of its own, and a refused one must leave nothing behind."""

from __future__ import annotations

import msgspec

from server.storage import audit
from server.storage import records as store
from sync_protocol import Checkin, Note, PartSwap


def test_the_van_stock_and_serials_follow_every_swap_of_one_batch(world):
    laptop = world.device("u-li-wei")
    reply = laptop.push(
        laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="FAN-80MM", serial_out="F-1", serial_in="F-777")),
        laptop.event("J-1", PartSwap(equipment_id="EQ-2", sku="FAN-80MM", serial_out="F-2", serial_in="F-777")),
        laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="FAN-80MM", serial_out="F-777", serial_in="F-900")),
    )
    # The van held none: each swap takes it one lower, and the second also clashes on F-777.
    assert [len(r.conflicts) for r in reply.results] == [1, 2, 1]
    assert [(c.kind, c.kept, c.other) for c in world.conflicts()] == [
        ("stock", -1, 0),
        ("stock", -2, -1),
        ("serial", "F-777", "EQ-1"),
        ("stock", -3, -2),
    ]
    holders = world.db.read(lambda c: {s: store.serial_holder(c, s) for s in ("F-1", "F-777", "F-900")})
    assert holders["F-1"] is None and holders["F-777"][0] == "EQ-2" and holders["F-900"][0] == "EQ-1"
    assert world.record("stock", "van:u-li-wei|FAN-80MM").qty == -3
    assert world.db.read(audit.verify).ok


def test_one_open_job_state_conflict_per_job_and_engineer_in_one_batch(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    world.set_status("J-1", "cancelled")
    reply = laptop.push(laptop.event("J-1", Checkin()), laptop.event("J-1", Note(text="still here")))
    assert [r.status for r in reply.results] == ["conflict", "conflict"]
    assert reply.results[0].conflicts == reply.results[1].conflicts
    assert [c.kind for c in world.conflicts()] == ["job_state"]
    assert "work_after_cancel" in world.record("job", "J-1").flags


def test_an_event_sent_twice_in_one_batch_is_recorded_once(world):
    laptop = world.device("u-li-wei")
    first = laptop.event("J-1", Note(text="once"))
    again = msgspec.structs.replace(laptop.event("J-1", Note(text="x")), event=first.event)
    reply = laptop.push(first, again)
    assert [(r.status, r.reason) for r in reply.results] == [("applied", None), ("applied", "duplicate_event")]
    assert reply.results[0].version == reply.results[1].version
    assert world.db.read(audit.verify).ok


def test_a_refused_event_in_the_middle_of_a_batch_leaves_nothing(world):
    laptop = world.device("u-li-wei")

    def records(conn):
        return conn.execute("SELECT entity, id, version FROM records ORDER BY version").fetchall()

    before = world.db.read(records)
    reply = laptop.push(
        laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="NO-SUCH-PART", serial_out="F-1", serial_in="F-2")),
    )
    assert reply.results[0].status == "rejected"
    assert world.db.read(records) == before
    reply = laptop.push(
        laptop.event("J-1", Note(text="before")),
        laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="NO-SUCH-PART", serial_out="F-1", serial_in="F-2")),
        laptop.event("J-1", Note(text="after")),
    )
    assert [r.status for r in reply.results] == ["applied", "rejected", "applied"]
    assert world.db.read(lambda c: store.serial_holder(c, "F-2")) is None
    assert world.db.read(audit.verify).ok


def test_a_patch_between_events_sees_them_and_they_see_it(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    site_version = world.version("site", "S-01")
    reply = laptop.push(
        laptop.event("J-1", Checkin()),
        laptop.patch("site", "S-01", site_version, access_notes="gate code 4711"),
        laptop.event("J-1", Note(text="after the patch")),
    )
    assert [r.status for r in reply.results] == ["applied", "applied", "applied"]
    assert world.record("site", "S-01").access_notes == "gate code 4711"
    assert world.record("job", "J-1").status == "on_site"
    assert world.db.read(audit.verify).ok
