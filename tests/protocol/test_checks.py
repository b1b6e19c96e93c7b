"""sync_protocol.checks: the one check of patches and events that the laptop and the server share."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sync_protocol import (
    Checkin,
    CustomerApproval,
    Equipment,
    Job,
    JobEvent,
    Note,
    Part,
    PartSwap,
    Quote,
    Site,
    SyncRejected,
)
from sync_protocol.checks import check_entity, check_event, check_patch, local_field
from sync_protocol.merge import DERIVED_FIELDS, FIELD_OWNED

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)
SITE = Site(id="S-1", customer_id="C-1", name="Plant")
EQUIPMENT = Equipment(id="EQ-1", site_id="S-1", model="R740", serial="SN-1")
JOB = Job(id="J-1", number="SR-1", customer_id="C-1", site_id="S-1", severity=2, reported_at=T0)


def refused(fn: Any, *args: Any) -> tuple[str, str | None] | None:
    try:
        fn(*args)
    except SyncRejected as exc:
        return exc.reason, exc.field
    return None


# (entity, record, fields, side) -> None (accepted) or (reason, field)
PATCHES = [
    ("site", SITE, {"contact_phone": "+86 1"}, "field", None),
    ("site", SITE, {"contact_phone": "+86 1"}, "office", None),
    ("site", SITE, {"name": "New"}, "office", None),
    ("site", SITE, {"name": "New"}, "field", ("forbidden_field", "fields.name")),
    ("site", SITE, {}, "office", ("invalid", "fields")),
    ("site", SITE, {"colour": "red"}, "office", ("invalid", "fields.colour")),
    ("site", SITE, {"id": "S-2"}, "office", ("forbidden_field", "fields.id")),
    ("job", JOB, {"status": "closed"}, "office", ("forbidden_field", "fields.status")),
    ("job", JOB, {"warranty": "in"}, "office", ("forbidden_field", "fields.warranty")),
    ("job", JOB, {"severity": 9}, "office", ("invalid", "fields.severity")),
    ("equipment", EQUIPMENT, {"serial": "x" * 201}, "field", ("invalid", "fields.serial")),
    ("equipment", EQUIPMENT, {"parameters": {"ram": "64 GB"}}, "field", None),
]


@pytest.mark.parametrize("entity, record, fields, side, expected", PATCHES)
def test_patch_table(entity: str, record: Any, fields: dict[str, Any], side: str, expected: Any) -> None:
    assert refused(check_patch, entity, record, fields, side) == expected


def test_an_accepted_patch_returns_the_validated_record() -> None:
    assert check_patch("site", SITE, {"contact_name": "王工"}, "field").contact_name == "王工"


@pytest.mark.parametrize("entity", ["event", "conflict", "teapot"])
def test_events_conflicts_and_unknown_entities_are_not_patched(entity: str) -> None:
    assert refused(check_entity, entity) == ("unknown_entity", "entity")


def test_every_derived_field_is_refused_and_every_field_owned_one_accepted() -> None:
    records = {"job": JOB, "site": SITE, "equipment": EQUIPMENT}
    for entity, derived in DERIVED_FIELDS.items():
        if entity in records:
            for name in derived:
                assert refused(check_patch, entity, records[entity], {name: None}, "office")[0] == "forbidden_field"
    for entity, owned in FIELD_OWNED.items():
        for name in owned:
            value = {} if name == "parameters" else "x"
            assert refused(check_patch, entity, records[entity], {name: value}, "field") is None


def _find(records: list[Any]) -> Any:
    table = {(type(r).__struct_config__.tag, r.id): r for r in records}
    return lambda entity, record_id: table.get((entity, record_id))


QUOTE = JobEvent(id="q-1", job_id="J-1", hlc="0" * 16, at=T0, payload=Quote())
OTHER_JOBS_QUOTE = JobEvent(id="q-2", job_id="J-2", hlc="0" * 16, at=T0, payload=Quote())
NOTE = JobEvent(id="n-1", job_id="J-1", hlc="0" * 16, at=T0, payload=Note(text="hi"))
PART = Part(id="PSU", name="PSU")
WORLD = _find(
    [EQUIPMENT, PART, QUOTE, OTHER_JOBS_QUOTE, NOTE, Equipment(id="EQ-9", site_id="S-9", model="m", serial="s")]
)


def swap(**changes: Any) -> PartSwap:
    fields = {"equipment_id": "EQ-1", "sku": "PSU", "serial_out": "A", "serial_in": "B", **changes}
    return PartSwap(**fields)


EVENTS = [
    (Checkin(), None),
    (swap(), None),
    (swap(equipment_id="EQ-404"), ("unknown_equipment", "event.payload.equipment_id")),
    (swap(equipment_id="EQ-9"), ("unknown_equipment", "event.payload.equipment_id")),  # another site
    (swap(sku="NOPE"), ("unknown_part", "event.payload.sku")),
    (swap(serial_in="A"), ("invalid", "event.payload.serial_in")),
    (CustomerApproval(quote_event_id="q-1", approved_by="王"), None),
    (CustomerApproval(quote_event_id="q-2", approved_by="王"), ("unknown_quote", "event.payload.quote_event_id")),
    (CustomerApproval(quote_event_id="n-1", approved_by="王"), ("unknown_quote", "event.payload.quote_event_id")),
]


@pytest.mark.parametrize("payload, expected", EVENTS)
def test_event_table(payload: Any, expected: Any) -> None:
    assert refused(check_event, JOB, payload, WORLD) == expected


def test_an_incomplete_backup_names_its_field() -> None:
    from sync_protocol import Backup

    assert refused(check_event, JOB, Backup(waived=True), WORLD) == ("invalid", "event.payload.waive_reason")


@pytest.mark.parametrize(
    "wire, local",
    [
        ("fields.contact_phone", "contact_phone"),
        ("event.payload.sku", "sku"),
        ("event.job_id", "job_id"),
        ("entity", "entity"),
        (None, None),
    ],
)
def test_local_field_names(wire: str | None, local: str | None) -> None:
    assert local_field(wire) == local
