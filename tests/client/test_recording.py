"""Recording on site: one local transaction, one numbered outbox entry, local rules at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

import msgspec
import pytest

from field_client import BackupRequired, FieldClient, InvalidAction, NotLoggedIn, UnknownRecord, Workbench, replica
from field_client.store import get_meta, set_meta
from .laptop_helpers import DEVICE_ID, META, SEED_VERSION, SIGNATURE_PNG, USER_ID, outbox_rows, seed
from sync_protocol import (
    AppendEvent,
    Backup,
    Checkin,
    CustomerApproval,
    Diagnosis,
    Quote,
    QuoteLine,
    Job,
    JobEvent,
    Note,
    PartSwap,
    Photo,
    Resolution,
    Signature,
    sheet_events,
    sheet_hash,
)
from sync_protocol.events import Test as PassFail  # aliased: pytest would collect a class named Test*
from sync_protocol.hlc import encode as hlc_encode

JOB = "J-0001"  # li-wei's job at S-01, equipment EQ-001
OTHER_JOB = "J-0003"  # li-wei's job at S-02
EQUIPMENT = "EQ-001"  # at S-01
FOREIGN_EQUIPMENT = "EQ-009"  # at S-02, not at J-0001's site
SKU = "PSU-750W"  # 2 in li-wei's van
SHA = "ab" * 32

VERIFIED = Backup(scope="system", method="image", sha256=SHA, verified=True)


def swap(**overrides: object) -> PartSwap:
    values: dict[str, object] = dict(equipment_id=EQUIPMENT, sku=SKU, serial_out="PSU-OLD-1", serial_in="PSU-NEW-1")
    values.update(overrides)
    return PartSwap(**values)  # type: ignore[arg-type]


def van_qty(client: FieldClient, sku: str) -> int | None:
    for stock in client.van_stock():
        if stock.sku == sku:  # type: ignore[attr-defined]
            return stock.qty  # type: ignore[attr-defined]
    return None


# --- numbering and clocks ---------------------------------------------------------------------


def test_each_event_is_one_outbox_entry_with_contiguous_seq_and_rising_hlc(laptop: FieldClient) -> None:
    recorded = [
        laptop.record_event(JOB, Checkin(note="plant room B2")),
        laptop.record_event(JOB, Note(text="PSU LED amber")),
        laptop.record_event(OTHER_JOB, PassFail(result="pass")),
    ]

    rows = outbox_rows(laptop)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert [r["op"] for r in rows] == ["event"] * 3
    assert [r["record_id"] for r in rows] == [e.id for e in recorded]
    assert [r["job_id"] for r in rows] == [JOB, JOB, OTHER_JOB]
    hlcs = [r["hlc"] for r in rows]
    assert hlcs[0] < hlcs[1] < hlcs[2]
    # The event carries the same stamp as its mutation, and who/where recorded it.
    assert [e.hlc for e in recorded] == hlcs
    assert {e.author for e in recorded} == {USER_ID}
    assert {e.device_id for e in recorded} == {DEVICE_ID}

    pending = laptop.pending()
    assert [m.seq for m in pending] == [1, 2, 3]
    assert all(isinstance(m, AppendEvent) for m in pending)
    assert [m.event.id for m in pending] == [e.id for e in recorded]  # type: ignore[union-attr]
    assert laptop.status()["pending"] == 3
    assert laptop.store.read(lambda c: get_meta(c, "next_seq")) == "4"


def test_seq_and_hlc_survive_reopening_the_store(laptop: FieldClient, home) -> None:  # type: ignore[no-untyped-def]
    laptop.record_event(JOB, Checkin())
    laptop.record_event(JOB, Note(text="before lunch"))
    last_hlc = outbox_rows(laptop)[-1]["hlc"]
    laptop.close()

    with FieldClient(home) as reopened:
        event = reopened.record_event(JOB, Note(text="after lunch"))
        rows = outbox_rows(reopened)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert event.hlc > last_hlc


def test_hlc_stays_above_a_persisted_stamp_ahead_of_the_wall_clock(laptop: FieldClient, home) -> None:  # type: ignore[no-untyped-def]
    # A stamp handed out earlier that is ahead of this machine's wall clock (clock stepped
    # back, or a server clock adopted): a reopened laptop must never issue one below it.
    ahead = hlc_encode(time.time_ns() // 1_000_000 + 3_600_000, 7)
    laptop.store.write(lambda c: set_meta(c, "hlc", ahead))
    laptop.close()

    with FieldClient(home) as reopened:
        first = reopened.record_event(JOB, Checkin())
        second = reopened.record_event(JOB, Checkin())
    assert ahead < first.hlc < second.hlc


# --- local rules --------------------------------------------------------------------------------


def test_unknown_job_is_refused_with_field_job_id(laptop: FieldClient) -> None:
    with pytest.raises(UnknownRecord) as err:
        laptop.record_event("J-9999", Checkin())
    assert err.value.field == "job_id"
    assert outbox_rows(laptop) == []


def test_part_swap_before_a_verified_backup_is_refused_and_nothing_written(laptop: FieldClient) -> None:
    with pytest.raises(BackupRequired) as err:
        laptop.record_event(JOB, swap())
    assert isinstance(err.value, InvalidAction)
    assert err.value.field == "no_backup_ack"
    assert outbox_rows(laptop) == []
    assert laptop.store.read(lambda c: get_meta(c, "next_seq")) is None  # no seq consumed
    assert van_qty(laptop, SKU) == 2


@pytest.mark.parametrize(
    "backup",
    [
        Backup(scope="system", sha256=SHA, verified=False),  # made but not verified
        Backup(waived=True, waive_reason="customer refused"),  # recorded on another job below
    ],
    ids=["unverified", "other-job"],
)
def test_backups_that_do_not_count_still_block_a_part_swap(laptop: FieldClient, backup: Backup) -> None:
    job = JOB if not backup.waived else OTHER_JOB
    laptop.record_event(job, backup)
    with pytest.raises(BackupRequired):
        laptop.record_event(JOB, swap())
    assert len(outbox_rows(laptop)) == 1


def test_part_swap_allowed_with_no_backup_ack(laptop: FieldClient) -> None:
    event = laptop.record_event(JOB, swap(no_backup_ack=True))
    assert isinstance(event.payload, PartSwap) and event.payload.no_backup_ack
    assert [r["record_id"] for r in outbox_rows(laptop)] == [event.id]


def test_part_swap_allowed_after_a_verified_backup(laptop: FieldClient) -> None:
    laptop.record_event(JOB, VERIFIED)
    event = laptop.record_event(JOB, swap())
    assert [r["seq"] for r in outbox_rows(laptop)] == [1, 2]
    assert outbox_rows(laptop)[1]["record_id"] == event.id


def test_part_swap_allowed_after_a_waived_backup_with_reason(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Backup(waived=True, waive_reason="disk unreadable; customer agreed"))
    laptop.record_event(JOB, swap())
    assert len(outbox_rows(laptop)) == 2


def test_part_swap_allowed_after_a_synced_verified_backup(laptop: FieldClient) -> None:
    """A backup already on the server (pulled into the replica) counts too."""
    synced = JobEvent(
        id="EV-synced-backup",
        job_id=JOB,
        author=USER_ID,
        device_id="dev-other",
        hlc="0000000000010000",
        at=dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.timezone.utc),
        payload=VERIFIED,
    )
    laptop.store.write(lambda c: replica.put(c, synced, 3))
    laptop.record_event(JOB, swap())
    assert len(outbox_rows(laptop)) == 1


@pytest.mark.parametrize("equipment_id", [FOREIGN_EQUIPMENT, "EQ-NOPE"])
def test_part_swap_on_equipment_not_at_the_jobs_site(laptop: FieldClient, equipment_id: str) -> None:
    with pytest.raises(UnknownRecord) as err:
        laptop.record_event(JOB, swap(equipment_id=equipment_id, no_backup_ack=True))
    assert err.value.field == "equipment_id"
    assert outbox_rows(laptop) == []


def test_part_swap_of_an_unknown_sku(laptop: FieldClient) -> None:
    with pytest.raises(UnknownRecord) as err:
        laptop.record_event(JOB, swap(sku="NO-SUCH-SKU", no_backup_ack=True))
    assert err.value.field == "sku"
    assert outbox_rows(laptop) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (Diagnosis(cause="hardware", findings="PSU dead", severity=9), "severity"),
        (Backup(method="image", sha256=SHA, verified=True), "scope"),
        (Backup(scope="data", verified=True), "sha256"),
        (Backup(scope="data", sha256="not-a-hash"), "sha256"),
        (Backup(waived=True, waive_reason="   "), "waive_reason"),
        (PartSwap(equipment_id=EQUIPMENT, sku=SKU, serial_out="a", serial_in="b", qty=0, no_backup_ack=True), "qty"),
        (Photo(sha256="XYZ"), "sha256"),
        (Note(text="x" * 4001), "text"),
        (Note(text="a\x00b"), "text"),
        (Resolution(outcome="fixed"), "outcome"),  # type: ignore[arg-type]
    ],
    ids=[
        "diagnosis-severity",
        "backup-scope",
        "backup-sha",
        "backup-bad-sha",
        "waive-no-reason",
        "swap-qty",
        "photo-sha",
        "note-too-long",
        "note-nul",
        "resolution-outcome",
    ],
)
def test_invalid_payload_values_name_the_field_and_write_nothing(
    laptop: FieldClient, payload: object, field: str
) -> None:
    with pytest.raises(InvalidAction) as err:
        laptop.record_event(JOB, payload)  # type: ignore[arg-type]
    assert not isinstance(err.value, BackupRequired)
    assert err.value.field == field
    assert outbox_rows(laptop) == []
    assert laptop.store.read(lambda c: get_meta(c, "hlc")) is None  # no stamp consumed


def test_recording_needs_an_enrolled_laptop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with FieldClient(tmp_path / "h") as client:
        seed(client, {k: v for k, v in META.items() if k != "user_id"})
        with pytest.raises(NotLoggedIn):
            client.record_event(JOB, Checkin())
        assert outbox_rows(client) == []


# --- what the engineer sees ---------------------------------------------------------------------


def test_van_stock_reflects_pending_swaps(laptop: FieldClient) -> None:
    assert van_qty(laptop, SKU) == 2
    laptop.record_event(JOB, VERIFIED)
    laptop.record_event(JOB, swap())
    assert van_qty(laptop, SKU) == 1
    laptop.record_event(JOB, swap(qty=2, serial_out="o2", serial_in="i2"))
    assert van_qty(laptop, SKU) == -1  # a deficit is shown, not refused
    # A part the van never had appears with a negative count (a wear part: paid, so approved first).
    quote = laptop.record_event(JOB, Quote(lines=[QuoteLine(sku="RAID-BBU"), QuoteLine(sku="FAN-80MM")]))
    laptop.record_event(JOB, CustomerApproval(quote_event_id=quote.id, approved_by="Wang Jianguo"))
    laptop.record_event(JOB, swap(sku="RAID-BBU", serial_out="b1", serial_in="b2"))
    assert van_qty(laptop, "RAID-BBU") == -1
    # Parts come from the engineer's own van only: a swap from the warehouse is refused.
    with pytest.raises(InvalidAction) as refused:
        laptop.record_event(JOB, swap(sku="FAN-80MM", location="warehouse:shanghai", serial_out="f1", serial_in="f2"))
    assert refused.value.field == "location" and van_qty(laptop, "FAN-80MM") == 3
    # The replica keeps the server's count: only the view subtracts.
    held = laptop.store.read(lambda c: replica.get(c, "stock", f"van:{USER_ID}|{SKU}"))
    assert held is not None and held.record.qty == 2 and held.version == SEED_VERSION  # type: ignore[attr-defined]
    # Other vans are not shown.
    assert {s.location for s in laptop.van_stock()} == {f"van:{USER_ID}"}  # type: ignore[attr-defined]


def test_events_show_synced_and_pending_in_hlc_order(laptop: FieldClient) -> None:
    a = laptop.record_event(JOB, Checkin(note="arrived"))
    b = laptop.record_event(JOB, VERIFIED)
    laptop.record_event(OTHER_JOB, Note(text="elsewhere"))
    synced = JobEvent(
        id="EV-synced-early",
        job_id=JOB,
        author="u-zhang-min",
        device_id="dev-2",
        hlc="0000000000010000",
        at=dt.datetime(2026, 11, 2, 2, tzinfo=dt.timezone.utc),
        payload=Note(text="called customer"),
    )
    laptop.store.write(lambda c: replica.put(c, synced, 2))
    c = laptop.record_event(JOB, PassFail(result="pass"))
    # Pulled from another laptop whose clock is ahead: it sorts after this laptop's pending work.
    late = msgspec.structs.replace(
        synced, id="EV-synced-late", hlc=hlc_encode(time.time_ns() // 1_000_000 + 3_600_000, 0)
    )
    laptop.store.write(lambda c: replica.put(c, late, 3))

    views = laptop.events(JOB)
    assert [v.event.id for v in views] == [synced.id, a.id, b.id, c.id, late.id]
    assert [v.pending for v in views] == [False, True, True, True, False]
    assert [v.event.hlc for v in views] == sorted(v.event.hlc for v in views)
    assert [v.event.id for v in laptop.events(OTHER_JOB)] != []
    assert laptop.events("J-0002") == []


def test_an_event_both_pulled_and_pending_shows_once(laptop: FieldClient) -> None:
    event = laptop.record_event(JOB, Checkin())
    laptop.store.write(lambda c: replica.put(c, event, 1))  # pulled back before the answer
    views = laptop.events(JOB)
    assert [v.event.id for v in views] == [event.id]


# --- signing --------------------------------------------------------------------------------------


def test_sign_binds_the_sheet_hash_and_its_events_and_caches_the_image(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin(note="arrived"))
    laptop.record_event(JOB, VERIFIED)
    laptop.record_event(JOB, swap())
    laptop.record_event(OTHER_JOB, Note(text="not on this sheet"))
    before = [v.event for v in laptop.events(JOB)]
    job = laptop.job(JOB)

    signature = laptop.sign(JOB, "刘洋 Liu Yang", SIGNATURE_PNG, role="IT manager")

    payload = signature.payload
    assert isinstance(payload, Signature)
    assert payload.signer == "刘洋 Liu Yang" and payload.role == "IT manager"
    assert payload.sheet_hash == sheet_hash(job, before)
    assert payload.event_ids == [e.id for e in sheet_events(before)]
    assert len(payload.event_ids) == 3
    image = SIGNATURE_PNG.read_bytes()
    assert payload.image_sha256 == hashlib.sha256(image).hexdigest()
    path = laptop.blob_path(payload.image_sha256)
    assert path is not None and path.read_bytes() == image
    queued = laptop.store.read(
        lambda c: [dict(r) for r in c.execute("SELECT sha256, media_type, uploaded, origin FROM blobs")]
    )
    assert queued == [{"sha256": payload.image_sha256, "media_type": "image/png", "uploaded": 0, "origin": "local"}]
    # The signature is one more outbox entry, after the events it signs.
    rows = outbox_rows(laptop)
    assert rows[-1]["record_id"] == signature.id and rows[-1]["seq"] == 5
    assert signature.hlc > max(e.hlc for e in before)


def test_a_second_signature_does_not_sign_the_first(laptop: FieldClient) -> None:
    laptop.record_event(JOB, Checkin())
    first = laptop.sign(JOB, "A", b"first image bytes")
    laptop.record_event(JOB, PassFail(result="pass"))
    events = [v.event for v in laptop.events(JOB)]
    second = laptop.sign(JOB, "B", b"second image bytes")
    assert isinstance(second.payload, Signature) and isinstance(first.payload, Signature)
    assert first.id not in second.payload.event_ids
    assert second.payload.sheet_hash == sheet_hash(laptop.job(JOB), events)
    assert second.payload.sheet_hash != first.payload.sheet_hash
    assert laptop.blob_path(second.payload.image_sha256) is not None


def test_sign_of_an_unknown_job_records_nothing(laptop: FieldClient) -> None:
    with pytest.raises(UnknownRecord) as err:
        laptop.sign("J-9999", "someone", b"png")
    assert err.value.field == "job_id"
    assert outbox_rows(laptop) == []


def test_recorded_event_round_trips_through_the_outbox(laptop: FieldClient) -> None:
    event = laptop.record_event(JOB, Diagnosis(cause="hardware", findings="PSU 1 failed", severity=2))
    [mutation] = laptop.pending()
    assert isinstance(mutation, AppendEvent)
    assert msgspec.to_builtins(mutation.event) == msgspec.to_builtins(event)


def test_todays_order_counts_a_check_in_held_or_pending(laptop: FieldClient) -> None:
    """Today orders every job by its running SLA promise, reading all check-ins at once
    (``view.checked_in_jobs``): it must agree with each job's own events, and a check-in still
    in the outbox ends the on-site promise as soon as it is recorded."""
    bench = Workbench(laptop, now=lambda: dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.timezone.utc))

    def agrees() -> list[tuple[Job, Any]]:
        rows = bench.jobs_by_urgency()
        assert [d for _, d in rows] == [bench.next_deadline(job) for job, _ in rows]
        return rows

    on_site = [job for job, deadline in agrees() if deadline is not None and deadline.what == "on site"]
    assert on_site, "the seeded laptop has a job whose engineer is due on site"
    laptop.record_event(on_site[0].id, Checkin(note="at the gate"))
    after = {job.id: deadline for job, deadline in agrees()}
    assert after[on_site[0].id] is None or after[on_site[0].id].what != "on site"
