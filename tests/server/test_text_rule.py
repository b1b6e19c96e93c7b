"""No text of the protocol holds a NUL character (``bounds.nul_path``): every way into the store
refuses one with ``422 invalid`` naming the field and writes nothing, and a record a server
stored with one before the rule is mended when the server upgrades.

Why: PostgreSQL cannot hold a NUL inside ``jsonb``. One customer stored with a NUL in its name
made every office page that shows names answer 500, for everyone, on that backend.
"""

from __future__ import annotations

import json

import msgspec

from server.storage import audit, office
from server.storage import records as store
from sync_protocol import JSON, ErrorBody, Note, PushRequest, decode, format_of


def _refusal(response) -> tuple[int, str, str | None]:  # type: ignore[no-untyped-def]
    body = decode(response.content, ErrorBody, format_of(response.headers["content-type"]))
    assert "NUL" in body.message
    return response.status_code, body.error, body.field


def test_a_pushed_event_holding_a_nul_is_refused_by_name_in_either_format(world, wire):
    laptop = world.device("u-li-wei", wire)
    before = world.snapshot()
    response = laptop.post(
        "/sync/v1/push",
        PushRequest(mutations=[laptop.event("J-1", Note(text="fine")), laptop.event("J-1", Note(text="a\x00b"))]),
    )
    assert _refusal(response) == (422, "invalid", "mutations[1].event.payload.text")
    assert world.snapshot() == before


def test_a_pushed_patch_holding_a_nul_is_refused_by_name(world):
    laptop = world.device("u-li-wei")
    before = world.snapshot()
    patch = laptop.patch("site", "S-01", world.version("site", "S-01"), access_notes="gate\x00code")
    response = laptop.post("/sync/v1/push", PushRequest(mutations=[patch]))
    assert _refusal(response) == (422, "invalid", "mutations[0].fields.access_notes")
    assert world.snapshot() == before


def test_the_office_api_refuses_a_name_holding_a_nul(world):
    dispatcher = world.device("u-chen-jing", JSON)
    before = world.snapshot()
    response = world.client.post(
        "/api/v1/customers",
        content=json.dumps({"id": "C-66", "name": "Evil\x00Corp"}).encode(),
        headers=dispatcher.headers,
    )
    assert _refusal(response) == (422, "invalid", "name")
    assert world.snapshot() == before


def test_an_escaped_backslash_before_u0000_is_plain_text(world):
    """``"a\\\\u0000"`` in JSON is a backslash followed by ``u0000``: no NUL, nothing refused."""
    dispatcher = world.device("u-chen-jing", JSON)
    response = world.client.post(
        "/api/v1/customers",
        content=json.dumps({"id": "C-67", "name": "a\\u0000"}).encode(),
        headers=dispatcher.headers,
    )
    assert response.status_code == 201, response.text
    assert world.record("customer", "C-67").name == "a\\u0000"
    assert world.db.read(office.names)["customer:C-67"] == "a\\u0000"


def test_a_record_stored_with_a_nul_before_the_rule_is_mended_on_upgrade(world):
    """A store of an older server: the record is written past the rule, and the store set back
    to the schema before the mending migration."""

    def plant(conn):  # type: ignore[no-untyped-def]
        stored = store.get(conn, "customer", "C-02")
        store.put(conn, msgspec.structs.replace(stored.record, name="Harbour\x00Logistics"), stored)
        if world.db.dialect == "postgresql":
            conn.execute("DELETE FROM schema_version WHERE version >= 13")
        else:
            conn.execute("UPDATE meta SET value='12' WHERE key='schema_version'")

    world.db.write(plant)
    planted = world.version("customer", "C-02")
    assert world.db.migrate() == 12
    assert world.record("customer", "C-02").name == "Harbour\ufffdLogistics"
    assert world.version("customer", "C-02") > planted  # laptops receive the mended record
    assert world.db.read(office.names)["customer:C-02"] == "Harbour\ufffdLogistics"
    assert world.db.read(audit.verify).ok
    kinds = world.db.read(lambda c: [r[0] for r in c.execute("SELECT kind FROM audit_log").fetchall()])
    assert kinds.count("migration.without_nul") == 1
