"""One test per row of DESIGN.md's conflicts table, through the server's push endpoint.

Nothing recorded on site is lost: each conflict is merged by a rule, and the ones a person
should see become ``conflict`` records that sync to the laptop and the dispatcher's queue.
"""

from __future__ import annotations

import pytest

from server.storage import records as store
from sync_protocol import (
    AssignRequest,
    Checkin,
    Diagnosis,
    Note,
    PartSwap,
    Signature,
    sheet_hash,
)
from sync_protocol import Test as PostRepairTest  # aliased: pytest would collect "Test*"

IMAGE = "ab" * 32


def test_append_only_events_from_two_devices_are_both_kept_in_clock_order(world):
    laptop, phone = world.device("u-li-wei"), world.device("u-li-wei")
    a = laptop.event("J-1", Diagnosis(cause="hardware", findings="PSU 2 failed"))
    b = phone.event("J-1", Diagnosis(cause="environment", findings="room at 35 °C"))
    phone.push(b)
    laptop.push(a)  # arrives later, recorded earlier or later: both are facts
    events = world.db.read(lambda c: store.job_events(c, "J-1"))
    assert sorted(e.id for e in events) == sorted([a.event.id, b.event.id])
    pulled = [c.record for c in world.device("u-li-wei").pull_all() if c.record.__class__.__name__ == "JobEvent"]
    assert [e.id for e in sorted(pulled, key=lambda e: (e.hlc, e.id))] == [
        e.id for e in sorted([a.event, b.event], key=lambda e: (e.hlc, e.id))
    ]
    assert world.conflicts() == []


@pytest.mark.parametrize("engineer_first", [True, False], ids=["engineer-first", "office-first"])
def test_concurrent_edits_merge_per_field_and_the_owner_wins_a_clash(world, engineer_first):
    base = world.version("site", "S-01")
    laptop, office = world.device("u-li-wei"), world.device("u-chen-jing")
    field_edit = laptop.patch(
        "site", "S-01", base, contact_phone="+86 139 0000 1111", access_notes="ask for 王工 at gate 2"
    )
    office_edit = office.patch("site", "S-01", base, contact_phone="+86 21 5555 9999", address="88 Century Avenue")
    pushes = [(laptop, field_edit), (office, office_edit)]
    if not engineer_first:
        pushes.reverse()
    results = [device.push(mutation).results[0] for device, mutation in pushes]
    site = world.record("site", "S-01")
    assert site.contact_phone == "+86 139 0000 1111"  # observed fact: the engineer's
    assert site.access_notes == "ask for 王工 at gate 2"  # one side only: merged
    assert site.address == "88 Century Avenue"  # one side only: merged
    assert results[0].status == "applied" and results[1].status == "conflict"
    [conflict] = world.conflicts()
    assert (conflict.kind, conflict.field, conflict.kept, conflict.other) == (
        "field",
        "contact_phone",
        "+86 139 0000 1111",
        "+86 21 5555 9999",
    )
    assert conflict.kept_by.side == "field" and conflict.other_by.side == "office"
    assert conflict.engineer == "u-li-wei" and conflict.status == "open"
    assert "engineer" in conflict.rule


def test_an_office_owned_field_goes_to_the_office(world):
    base = world.version("equipment", "EQ-1")
    office = world.device("u-chen-jing")
    office.push(office.patch("equipment", "EQ-1", base, model="PowerEdge R750"))
    laptop = world.device("u-li-wei")
    result = laptop.push(laptop.patch("equipment", "EQ-1", base, firmware="2.19.1")).results[0]
    assert result.status == "merged"
    equipment = world.record("equipment", "EQ-1")
    assert (equipment.model, equipment.firmware) == ("PowerEdge R750", "2.19.1")


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_two_engineer_edits_of_one_field_keep_the_later_clock_whatever_the_arrival(world, order):
    base = world.version("equipment", "EQ-1")
    first, second = world.device("u-li-wei"), world.device("u-li-wei")
    early = first.patch("equipment", "EQ-1", base, firmware="2.18.0")
    second.clock.observe(early.hlc)
    late = second.patch("equipment", "EQ-1", base, firmware="2.19.1")
    pair = [(first, early), (second, late)]
    for index in order:
        device, mutation = pair[index]
        device.push(mutation)
    assert world.record("equipment", "EQ-1").firmware == "2.19.1"
    [conflict] = world.conflicts()
    assert (conflict.kept, conflict.other) == ("2.19.1", "2.18.0")


def _reassign(world, job_id: str, engineer: str) -> None:
    office = world.device("u-chen-jing")
    response = office.post(f"/api/v1/jobs/{job_id}/assign", AssignRequest(assignee=engineer))
    assert response.status_code == 200, response.text


def test_work_on_a_job_reassigned_while_offline_is_kept_and_flagged(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()  # the laptop holds J-1
    _reassign(world, "J-1", "zhang-min")  # meanwhile the dispatcher gives it to Zhang Min
    reply = laptop.push(laptop.event("J-1", Checkin()), laptop.event("J-1", PostRepairTest(result="pass")))
    assert [r.status for r in reply.results] == ["conflict", "conflict"]
    job = world.record("job", "J-1")
    assert job.assignee == "u-zhang-min" and "work_after_reassign" in job.flags
    events = world.db.read(lambda c: store.job_events(c, "J-1"))
    assert len(events) == 2  # the work is kept
    [conflict] = world.conflicts()  # one conflict for the job, not one per event
    assert (conflict.kind, conflict.job_id, conflict.engineer) == ("job_state", "J-1", "u-li-wei")


def test_a_site_fact_noted_before_a_reassignment_is_kept(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()  # the laptop holds J-1 and its site S-01
    base = world.version("site", "S-01")
    _reassign(world, "J-1", "zhang-min")  # S-01 leaves Li Wei's scope on the next pull
    reply = laptop.push(laptop.patch("site", "S-01", base, contact_phone="+86 139 0000 0009"))
    assert reply.results[0].status == "applied", reply.results[0]
    assert world.record("site", "S-01").contact_phone == "+86 139 0000 0009"

    laptop.pull_all()  # the removal of S-01 arrives...
    laptop.pull_all()  # ...and is acknowledged: no longer the device's to edit
    late = laptop.push(laptop.patch("site", "S-01", base, contact_phone="+86 139 0000 0010"))
    assert (late.results[0].status, late.results[0].reason) == ("rejected", "scope")


def test_work_on_a_job_cancelled_while_offline_is_kept_and_flagged(world):
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    world.set_status("J-1", "cancelled")
    result = laptop.push(laptop.event("J-1", Checkin())).results[0]
    assert result.status == "conflict"
    job = world.record("job", "J-1")
    assert job.status == "cancelled" and "work_after_cancel" in job.flags
    assert (
        world.record(
            "event", laptop.seq and result.version and world.db.read(lambda c: store.job_events(c, "J-1"))[0].id
        )
        is not None
    )
    assert [c.kind for c in world.conflicts()] == ["job_state"]


def test_an_engineer_with_no_claim_on_a_job_cannot_record_on_it(world):
    laptop = world.device("u-li-wei")  # never held J-2
    result = laptop.push(laptop.event("J-2", Checkin())).results[0]
    assert (result.status, result.reason) == ("rejected", "scope")


@pytest.mark.parametrize("laptop_first", [True, False])
def test_the_last_unit_taken_twice_offline_goes_negative_and_raises_a_stock_conflict(world, laptop_first):
    """Parts come only from the engineer's own van, so the van's last unit is taken twice when two
    of the engineer's laptops both swap it offline: the deltas commute, the deficit is flagged."""
    laptop, spare = world.device("u-li-wei"), world.device("u-li-wei")
    swaps = [
        (
            laptop,
            laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="PSU-750W", serial_out="P-1", serial_in="P-100")),
        ),
        (spare, spare.event("J-1", PartSwap(equipment_id="EQ-2", sku="PSU-750W", serial_out="P-2", serial_in="P-200"))),
    ]
    if not laptop_first:
        swaps.reverse()
    statuses = [device.push(mutation).results[0].status for device, mutation in swaps]
    assert statuses == ["applied", "conflict"]
    assert world.record("stock", "van:u-li-wei|PSU-750W").qty == -1  # deltas commute
    [conflict] = world.conflicts()
    assert (conflict.kind, conflict.record_id, conflict.kept) == ("stock", "van:u-li-wei|PSU-750W", -1)


def test_a_swap_takes_from_the_engineers_own_van_by_default(world):
    laptop = world.device("u-li-wei")
    laptop.push(laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="PSU-750W", serial_out="P-1", serial_in="P-100")))
    assert world.record("stock", "van:u-li-wei|PSU-750W").qty == 0
    assert world.conflicts() == []


def test_one_serial_installed_at_two_places_raises_a_serial_conflict(world):
    laptop = world.device("u-li-wei")
    laptop.push(laptop.event("J-1", PartSwap(equipment_id="EQ-1", sku="FAN-80MM", serial_out="F-1", serial_in="F-777")))
    result = laptop.push(
        laptop.event("J-1", PartSwap(equipment_id="EQ-2", sku="FAN-80MM", serial_out="F-2", serial_in="F-777"))
    ).results[0]
    assert result.status == "conflict"
    serial = [c for c in world.conflicts() if c.kind == "serial"]
    assert len(serial) == 1 and serial[0].kept == "F-777" and serial[0].other == "EQ-1"


def _sign(world, laptop, job_id: str):
    job = world.record("job", job_id)
    events = world.db.read(lambda c: store.job_events(c, job_id))
    return laptop.event(
        job_id,
        Signature(
            signer="王建国",
            role="facility manager",
            image_sha256=IMAGE,
            sheet_hash=sheet_hash(job, events),
            event_ids=[e.id for e in events],
        ),
    )


def test_a_signature_over_the_current_sheet_is_valid(world):
    laptop = world.device("u-li-wei")
    laptop.push(laptop.event("J-1", Checkin()), laptop.event("J-1", PostRepairTest(result="pass")))
    assert laptop.push(_sign(world, laptop, "J-1")).results[0].status == "applied"
    assert world.record("job", "J-1").signature_state == "valid"
    assert world.conflicts() == []


def test_a_sheet_changed_after_signing_keeps_the_signature_and_marks_it_outdated(world):
    laptop, phone = world.device("u-li-wei"), world.device("u-li-wei")
    laptop.push(laptop.event("J-1", Checkin()))
    late_note = phone.event("J-1", Note(text="found a second loose cable"))  # recorded offline
    laptop.push(_sign(world, laptop, "J-1"))
    result = phone.push(late_note).results[0]
    assert result.status == "conflict"
    assert world.record("job", "J-1").signature_state == "outdated"
    [conflict] = world.conflicts()
    assert conflict.kind == "signature" and late_note.event.id not in conflict.detail  # said in words:
    assert "a note added by Li Wei on " in conflict.detail and '"found a second loose cable"' in conflict.detail
    assert result.conflicts == [conflict.id]
