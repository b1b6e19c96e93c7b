"""The service rules of DOMAIN.md, refused on the laptop at the moment of recording."""

from __future__ import annotations

import datetime as dt

import pytest

from field_client import ApprovalRequired, FieldClient, InvalidAction, UnknownRecord
from sync_protocol import Backup, CustomerApproval, Diagnosis, PartSwap, Quote, QuoteLine

from .laptop_helpers import outbox_rows

JOB, EQUIPMENT = "J-0001", "EQ-001"  # EQ-001's warranty ended 2025-06-15
VERIFIED = Backup(scope="system", method="image", sha256="ab" * 32, verified=True)


def psu_swap(**overrides: object) -> PartSwap:
    values: dict[str, object] = dict(equipment_id=EQUIPMENT, sku="PSU-750W", serial_out="PSU-OLD", serial_in="PSU-NEW")
    values.update(overrides)
    return PartSwap(**values)  # type: ignore[arg-type]


@pytest.fixture
def out_of_warranty(laptop: FieldClient) -> FieldClient:
    laptop.today = lambda: dt.date(2026, 11, 28)
    laptop.record_event(JOB, VERIFIED)
    return laptop


def test_paid_work_is_refused_until_the_customer_approves_a_quote(out_of_warranty: FieldClient) -> None:
    laptop = out_of_warranty
    before = len(outbox_rows(laptop))
    with pytest.raises(ApprovalRequired) as refused:
        laptop.record_event(JOB, psu_swap())
    assert refused.value.field == "quote"
    assert "warranty ended 2025-06-15" in refused.value.message and "approve" in refused.value.message
    assert len(outbox_rows(laptop)) == before

    quote = laptop.record_event(
        JOB, Quote(lines=[QuoteLine(sku="PSU-750W", unit_price_cents=89000)], labour_cents=30000)
    )
    with pytest.raises(ApprovalRequired):  # a quote alone is not the customer's consent
        laptop.record_event(JOB, psu_swap())
    laptop.record_event(JOB, CustomerApproval(quote_event_id=quote.id, approved_by="王建国"))
    laptop.record_event(JOB, psu_swap())
    assert len(outbox_rows(laptop)) == before + 3


def test_a_declined_quote_does_not_allow_paid_work(out_of_warranty: FieldClient) -> None:
    quote = out_of_warranty.record_event(JOB, Quote(lines=[QuoteLine(sku="PSU-750W")]))
    out_of_warranty.record_event(JOB, CustomerApproval(quote_event_id=quote.id, approved_by="王建国", approved=False))
    with pytest.raises(ApprovalRequired):
        out_of_warranty.record_event(JOB, psu_swap())


def test_a_human_cause_voids_the_warranty(laptop: FieldClient) -> None:
    laptop.record_event(JOB, VERIFIED)  # laptop.today is a day EQ-001 is in warranty
    laptop.record_event(JOB, Diagnosis(cause="human", findings="customer opened the PSU himself"))
    with pytest.raises(ApprovalRequired) as refused:
        laptop.record_event(JOB, psu_swap())
    assert "human" in refused.value.message


def test_a_wear_part_is_never_covered(laptop: FieldClient) -> None:
    laptop.record_event(JOB, VERIFIED)
    laptop.record_event(JOB, psu_swap())  # in warranty: free
    with pytest.raises(ApprovalRequired) as refused:
        laptop.record_event(JOB, psu_swap(sku="FAN-80MM", serial_out="F1", serial_in="F2"))
    assert "wear part" in refused.value.message


def test_an_approval_must_name_a_quote_of_the_job(laptop: FieldClient) -> None:
    with pytest.raises(UnknownRecord) as refused:
        laptop.record_event(JOB, CustomerApproval(quote_event_id="no-such-quote", approved_by="x"))
    assert refused.value.field == "quote_event_id"


def test_serials_must_add_up(laptop: FieldClient) -> None:
    laptop.record_event(JOB, VERIFIED)
    with pytest.raises(InvalidAction) as same:
        laptop.record_event(JOB, psu_swap(serial_in="PSU-OLD"))
    assert same.value.field == "serial_in"
    laptop.record_event(JOB, psu_swap())
    laptop.record_event("J-0002", Backup(waived=True, waive_reason="switch config is read-only"))
    with pytest.raises(InvalidAction) as twice:  # PSU-NEW is in EQ-001 now; it cannot go in elsewhere
        laptop.record_event("J-0002", psu_swap(equipment_id="EQ-002", serial_out="X", serial_in="PSU-NEW"))
    assert twice.value.field == "serial_in" and "EQ-001" in twice.value.message


def test_the_sheet_shows_a_signature_made_outdated_by_later_work(laptop: FieldClient) -> None:
    from field_client import Workbench
    from field_client.render import sheet_text

    bench = Workbench(laptop)
    bench.checkin(JOB)
    laptop.sign(JOB, signer="王建国", image=b"\x89PNG signature")
    assert bench.sheet(JOB)["signature"]["state"] == "valid"

    late = bench.note(JOB, "forgot to mention the dusty filter")

    sheet = bench.sheet(JOB)
    assert sheet["signature"]["state"] == "outdated" and sheet["signature"]["signer"] == "王建国"
    [changed] = sheet["signature"]["changed"]
    assert changed.startswith("a note added by Li Wei (李伟) on ") and '"forgot to mention the dusty filter"' in changed
    text = sheet_text(sheet)
    assert "SIGNS AN OLDER VERSION" in text and changed in text and late.id not in text


def test_taking_more_than_the_van_holds_is_recorded_with_a_warning(laptop: FieldClient) -> None:
    from field_client import Workbench

    bench = Workbench(laptop)
    laptop.record_event(JOB, VERIFIED)
    _, first = bench.swap(JOB, equipment=EQUIPMENT, part="PSU-750W", serial_out="A1", serial_in="B1", qty=2)
    _, second = bench.swap(JOB, equipment=EQUIPMENT, part="PSU-750W", serial_out="A2", serial_in="B2")
    assert first is None  # the van held 2
    assert second is not None and "-1 x PSU-750W" in second
    assert {s.sku: s.qty for s in laptop.van_stock()}["PSU-750W"] == -1


def test_a_replaced_part_carries_its_own_restarted_warranty(out_of_warranty: FieldClient) -> None:
    from field_client import Workbench

    bench = Workbench(out_of_warranty)
    bench.quote(JOB, ["PSU-750W"])
    bench.approve(JOB, by="王建国")
    event, _ = bench.swap(JOB, equipment=EQUIPMENT, part="PSU-750W", serial_out="P0", serial_in="P1")
    assert event.payload.warranty_until == dt.date(2026, 11, 28) + dt.timedelta(days=365)
    assert not bench.warranty(JOB)[EQUIPMENT].covered  # the server itself is still out of warranty

    # That restarted warranty covers replacing the same part again, and only that part.
    from field_client import rules

    equipment, psu, other = (
        out_of_warranty.record(e, i)
        for e, i in (("equipment", EQUIPMENT), ("part", "PSU-750W"), ("part", "RAID-H730P"))
    )
    events = [v.event for v in out_of_warranty.events(JOB)]
    today = out_of_warranty.today()
    assert rules.swap_is_paid(equipment, psu, events, today) is None
    assert rules.swap_is_paid(equipment, psu, events, today + dt.timedelta(days=366)) is not None
    assert rules.swap_is_paid(equipment, other, events, today) is not None
