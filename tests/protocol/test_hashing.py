"""Sheet hash: what the customer signs, and only that."""

from __future__ import annotations

import datetime as dt
import hashlib

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol import events as ev
from sync_protocol.hashing import canonical_bytes, record_hash, sheet_events, sheet_hash
from sync_protocol.hlc import encode as hlc
from sync_protocol.records import Job, JobEvent

WHEN = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
SHA = "ab" * 32

JOB = Job(
    id="job-1",
    number="J-0001",
    customer_id="cust-1",
    site_id="site-1",
    equipment_ids=["eq-1"],
    fault="camera offline",
    severity=2,
    reported_at=WHEN,
    status="on_site",
    assignee="eng-1",
)


def event(i: int, payload: ev.EventPayload, ms: int | None = None) -> JobEvent:
    return JobEvent(
        id=f"ev-{i:03d}",
        job_id=JOB.id,
        hlc=hlc(1_000 + (i if ms is None else ms), 0),
        at=WHEN,
        payload=payload,
        author="eng-1",
        device_id="dev-1",
    )


SHEET = [
    event(1, ev.Checkin(note="arrived")),
    event(2, ev.Backup(scope="config", sha256=SHA, verified=True)),
    event(3, ev.Diagnosis(cause="hardware", findings="dead PSU", severity=2)),
    event(4, ev.PartSwap(equipment_id="eq-1", sku="PSU-12", serial_out="A1", serial_in="B2")),
    event(5, ev.Test(result="pass")),
    event(6, ev.Note(text="all good"), ms=5),  # same hlc as event 5: tie broken by id
]


def test_canonical_bytes_sorted_compact() -> None:
    assert canonical_bytes({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == b'{"a":[1,{"c":3,"d":2}],"b":1}'
    assert record_hash({"x": "é"}) == hashlib.sha256('{"x":"é"}'.encode()).hexdigest()
    # default-valued fields are omitted (omit_defaults), so adding a defaulted field is invisible
    assert b"returned" not in canonical_bytes(ev.Loaner(device="laptop"))


def test_sheet_hash_is_hex_sha256_and_deterministic() -> None:
    h = sheet_hash(JOB, SHEET)
    assert len(h) == 64 and all(c in "0123456789abcdef" for c in h)
    assert sheet_hash(JOB, list(SHEET)) == h
    # and it is not the hash of an empty sheet
    assert sheet_hash(JOB, []) != h


@settings(max_examples=100)
@given(order=st.permutations(range(len(SHEET))))
def test_sheet_hash_stable_under_input_order(order) -> None:
    assert sheet_hash(JOB, [SHEET[i] for i in order]) == sheet_hash(JOB, SHEET)
    assert sheet_events([SHEET[i] for i in order]) == sorted(SHEET, key=lambda e: (e.hlc, e.id))


def test_sheet_hash_survives_a_wire_roundtrip() -> None:
    events = [msgspec.json.decode(msgspec.json.encode(e), type=JobEvent) for e in SHEET]
    job = msgspec.msgpack.decode(msgspec.msgpack.encode(JOB), type=Job)
    assert sheet_hash(job, events) == sheet_hash(JOB, SHEET)


def test_sheet_hash_changes_when_a_sheet_payload_changes() -> None:
    base = sheet_hash(JOB, SHEET)
    for index, new_payload in [
        (0, ev.Checkin(note="arrived late")),
        (2, ev.Diagnosis(cause="hardware", findings="dead PSU", severity=3)),
        (3, ev.PartSwap(equipment_id="eq-1", sku="PSU-12", serial_out="A1", serial_in="B3")),
        (4, ev.Test(result="fail")),
        (5, ev.Photo(sha256=SHA)),
    ]:
        changed = list(SHEET)
        changed[index] = msgspec.structs.replace(changed[index], payload=new_payload)
        assert sheet_hash(JOB, changed) != base, index


def test_sheet_hash_changes_when_a_sheet_event_is_added_or_removed() -> None:
    base = sheet_hash(JOB, SHEET)
    assert sheet_hash(JOB, SHEET[:-1]) != base
    assert sheet_hash(JOB, [*SHEET, event(7, ev.Note(text="one more"))]) != base


def test_sheet_hash_changes_when_sheet_job_fields_change() -> None:
    base = sheet_hash(JOB, SHEET)
    for change in [
        {"fault": "camera flickers"},
        {"equipment_ids": ["eq-1", "eq-2"]},
        {"number": "J-0002"},
        {"site_id": "site-2"},
        {"customer_id": "cust-2"},
    ]:
        assert sheet_hash(msgspec.structs.replace(JOB, **change), SHEET) != base, change


def test_sheet_hash_unchanged_by_signature_and_resolution_events() -> None:
    base = sheet_hash(JOB, SHEET)
    signature = event(
        8, ev.Signature(signer="Mr Lee", image_sha256=SHA, sheet_hash=base, event_ids=[e.id for e in SHEET])
    )
    resolution = event(9, ev.Resolution(outcome="resolved"))
    assert sheet_hash(JOB, [*SHEET, signature]) == base
    assert sheet_hash(JOB, [resolution, *SHEET, signature]) == base
    assert signature not in sheet_events([*SHEET, signature, resolution])


def test_sheet_hash_unchanged_by_scheduling_fields() -> None:
    base = sheet_hash(JOB, SHEET)
    for change in [
        {"assignee": "eng-2"},
        {"assignee": None},
        {"status": "resolved"},
        {"status": "closed"},
        {"assignee_name": "Bob"},
        {"signature_state": "outdated"},
        {"flags": ["late"]},
        {"respond_by": WHEN},
    ]:
        assert sheet_hash(msgspec.structs.replace(JOB, **change), SHEET) == base, change


@settings(max_examples=50)
@given(text=st.text(max_size=50), other=st.text(max_size=50))
def test_sheet_hash_distinguishes_note_texts(text: str, other: str) -> None:
    a = sheet_hash(JOB, [event(1, ev.Note(text=text))])
    b = sheet_hash(JOB, [event(1, ev.Note(text=other))])
    assert (a == b) == (text == other)
