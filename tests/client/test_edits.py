"""Edits of observed facts: a PatchRecord on top of the held version, shown as an overlay."""

from __future__ import annotations

import msgspec
import pytest

from field_client import FieldClient, InvalidAction, UnknownRecord, replica
from field_client.store import set_meta
from .laptop_helpers import SEED_VERSION, outbox_rows
from sync_protocol import PatchRecord, Site

SITE = "S-01"
SERVER_PHONE = "+86 138 0210 1001"
NEW_PHONE = "+86 138 0000 9999"


def held_site(client: FieldClient, site_id: str = SITE) -> replica.Held:
    held = client.store.read(lambda c: replica.get(c, "site", site_id))
    assert held is not None
    return held


def test_edit_of_an_engineer_owned_field_records_a_patch_on_the_held_version(laptop: FieldClient) -> None:
    patch = laptop.edit("site", SITE, contact_phone=NEW_PHONE)

    assert isinstance(patch, PatchRecord)
    assert (patch.seq, patch.entity, patch.id) == (1, "site", SITE)
    assert patch.base_version == SEED_VERSION
    assert patch.fields == {"contact_phone": NEW_PHONE}
    [row] = outbox_rows(laptop)
    assert (row["op"], row["entity"], row["record_id"], row["job_id"]) == ("patch", "site", SITE, None)
    assert row["hlc"] == patch.hlc
    assert laptop.pending() == [patch]


def test_base_version_is_the_version_held_for_that_record(laptop: FieldClient) -> None:
    site = held_site(laptop, "S-02").record
    laptop.store.write(lambda c: replica.put(c, site, 42))
    patch = laptop.edit("site", "S-02", contact_name="王工 Wang")
    assert patch.base_version == 42
    other = laptop.edit("site", SITE, contact_name="李工 Li")
    assert other.base_version == SEED_VERSION


def test_the_view_shows_the_edit_while_the_replica_keeps_the_servers_value(laptop: FieldClient) -> None:
    laptop.edit("site", SITE, contact_phone=NEW_PHONE)

    shown = laptop.record("site", SITE)
    assert isinstance(shown, Site) and shown.contact_phone == NEW_PHONE
    assert [s.contact_phone for s in laptop.records("site", "C-01") if s.id == SITE] == [NEW_PHONE]  # type: ignore[attr-defined]
    held = held_site(laptop)
    assert held.record.contact_phone == SERVER_PHONE  # type: ignore[attr-defined]
    assert held.version == SEED_VERSION
    # Everything else about the record is unchanged.
    assert msgspec.structs.replace(shown, contact_phone=SERVER_PHONE) == held.record


def test_later_edits_of_the_same_field_win_in_the_view(laptop: FieldClient) -> None:
    laptop.edit("site", SITE, contact_phone="first")
    laptop.edit("site", SITE, contact_phone="second", contact_name="Zhou")
    shown = laptop.record("site", SITE)
    assert shown.contact_phone == "second" and shown.contact_name == "Zhou"  # type: ignore[attr-defined]
    assert [r["seq"] for r in outbox_rows(laptop)] == [1, 2]


def test_equipment_firmware_is_the_engineers_to_edit(laptop: FieldClient) -> None:
    patch = laptop.edit("equipment", "EQ-001", firmware="2.19.1", parameters={"bios": "2.19.1"})
    assert patch.fields == {"firmware": "2.19.1", "parameters": {"bios": "2.19.1"}}
    shown = laptop.record("equipment", "EQ-001")
    assert shown.firmware == "2.19.1" and shown.parameters == {"bios": "2.19.1"}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("entity", "record_id", "fields", "field"),
    [
        ("site", SITE, {"name": "Renamed"}, "name"),
        ("site", SITE, {"contact_phone": "ok", "address": "elsewhere"}, "address"),
        ("job", "J-0001", {"severity": 4}, "severity"),
        ("equipment", "EQ-001", {"model": "R750"}, "model"),
    ],
    ids=["site-name", "site-address-with-owned", "job-severity", "equipment-model"],
)
def test_edit_of_an_office_field_is_refused(
    laptop: FieldClient, entity: str, record_id: str, fields: dict, field: str
) -> None:
    with pytest.raises(InvalidAction) as err:
        laptop.edit(entity, record_id, **fields)
    assert err.value.field == field
    assert outbox_rows(laptop) == []


def test_the_office_may_edit_office_fields(laptop: FieldClient) -> None:
    laptop.store.write(lambda c: set_meta(c, "role", "dispatcher"))
    patch = laptop.edit("site", SITE, name="浦东机房 (new name)")
    assert patch.fields == {"name": "浦东机房 (new name)"}


@pytest.mark.parametrize("fields", [{"colour": "red"}, {"id": "S-99"}], ids=["unknown", "id"])
def test_edit_of_an_unknown_or_immutable_field_is_refused(laptop: FieldClient, fields: dict) -> None:
    with pytest.raises(InvalidAction) as err:
        laptop.edit("site", SITE, **fields)
    assert err.value.field == next(iter(fields))
    assert outbox_rows(laptop) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"contact_phone": 13802101001}, "contact_phone"),
        ({"contact_name": None}, "contact_name"),
        ({"access_notes": "x" * 4001}, "access_notes"),
        ({"access_notes": "gate\x00code"}, "access_notes"),
    ],
    ids=["int-for-str", "none-for-str", "too-long", "nul"],
)
def test_edit_with_a_wrong_type_is_refused(laptop: FieldClient, fields: dict, field: str) -> None:
    with pytest.raises(InvalidAction) as err:
        laptop.edit("site", SITE, **fields)
    assert err.value.field == field
    assert outbox_rows(laptop) == []
    assert laptop.record("site", SITE).contact_phone == SERVER_PHONE  # type: ignore[attr-defined]


def test_equipment_parameters_of_the_wrong_shape_are_refused(laptop: FieldClient) -> None:
    with pytest.raises(InvalidAction):
        laptop.edit("equipment", "EQ-001", parameters=["not", "a", "mapping"])
    assert outbox_rows(laptop) == []


def test_an_empty_edit_is_refused(laptop: FieldClient) -> None:
    with pytest.raises(InvalidAction) as err:
        laptop.edit("site", SITE)
    assert err.value.field == "fields"
    assert outbox_rows(laptop) == []


def test_edit_of_a_record_not_on_the_laptop(laptop: FieldClient) -> None:
    with pytest.raises(UnknownRecord) as err:
        laptop.edit("site", "S-99", contact_phone=NEW_PHONE)
    assert err.value.field == "site_id"
    assert outbox_rows(laptop) == []


def test_a_pull_of_a_newer_server_version_does_not_hide_the_pending_edit(laptop: FieldClient) -> None:
    laptop.edit("site", SITE, contact_phone=NEW_PHONE)
    # The office changed other fields meanwhile (and even the phone); a pull stores it.
    server = held_site(laptop).record
    newer = msgspec.structs.replace(server, access_notes="badge at gate 3", contact_phone="+86 21 0000 0000")
    laptop.store.write(lambda c: replica.put(c, newer, SEED_VERSION + 5))

    shown = laptop.record("site", SITE)
    assert shown.contact_phone == NEW_PHONE  # type: ignore[attr-defined]
    assert shown.access_notes == "badge at gate 3"  # type: ignore[attr-defined]
    held = held_site(laptop)
    assert held.version == SEED_VERSION + 5
    assert held.record.contact_phone == "+86 21 0000 0000"  # type: ignore[attr-defined]
    # The queued patch is unchanged: still made on the version it was made on.
    [patch] = laptop.pending()
    assert isinstance(patch, PatchRecord) and patch.base_version == SEED_VERSION
    # The next edit is made on the newer version.
    assert laptop.edit("site", SITE, contact_name="Zhou").base_version == SEED_VERSION + 5


def test_a_drawing_gets_a_safe_file_name_with_an_extension() -> None:
    from field_client.client import drawing_filename
    from sync_protocol import Drawing

    def name(filename: str, media_type: str = "application/pdf") -> str:
        return drawing_filename(
            Drawing(
                id="D-9", site_id="S-1", title="t", filename=filename, media_type=media_type, sha256="0" * 64, size=1
            )
        )

    assert name("D-9-plan.pdf") == "D-9-plan.pdf"
    assert name("floor plan") == "D-9-floor plan.pdf"
    assert name("../../etc/passwd", "image/png") == "D-9-passwd.png"
    assert name("C:\\drawings\\rack.PNG") == "D-9-rack.PNG"
    assert name("..", "image/png") == "D-9.png"
