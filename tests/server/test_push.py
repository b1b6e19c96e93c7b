"""Push: every mutation applied exactly once, refusals named, the store untouched by bad input."""

from __future__ import annotations

import msgspec
import pytest

from server import pull as server_pull
from sync_protocol import (
    JSON,
    MSGPACK,
    Backup,
    Checkin,
    Diagnosis,
    ErrorBody,
    Note,
    PartSwap,
    PullRequest,
    PushReply,
    PushRequest,
    decode,
    encode,
)


def test_a_retried_push_is_applied_once_and_gets_the_same_answers(world, wire):
    laptop = world.device("u-li-wei", wire)
    batch = [
        laptop.event("J-1", Checkin(note="on site")),
        laptop.event("J-1", Diagnosis(cause="hardware", findings="PSU 2 dead")),
        laptop.patch("site", "S-01", world.version("site", "S-01"), access_notes="gate code 4711"),
    ]
    first = laptop.push(*batch)
    after_first = world.snapshot()
    again = laptop.push(*batch)  # the answer of the first push was "lost"
    assert again.results == first.results
    assert [r.status for r in first.results] == ["applied", "applied", "applied"]
    assert world.snapshot() == after_first
    assert again.high_seq == 3 and laptop.hello().high_seq == 3


def test_a_batch_overlapping_applied_seqs_applies_only_the_new_tail(world):
    laptop = world.device("u-li-wei")
    one, two = laptop.event("J-1", Note(text="a")), laptop.event("J-1", Note(text="b"))
    first = laptop.push(one)
    reply = laptop.push(one, two)
    assert reply.results[0] == first.results[0]
    assert reply.results[1].status == "applied" and reply.high_seq == 2
    events = world.db.read(lambda c: c.execute("SELECT count(*) FROM records WHERE entity='event'").fetchone()[0])
    assert events == 2


def test_a_gap_in_seq_refuses_the_whole_batch_and_names_the_expected_seq(world):
    laptop = world.device("u-li-wei")
    laptop.push(laptop.event("J-1", Checkin()))
    laptop.seq += 1  # skip one
    before = world.snapshot()
    response = laptop.post("/sync/v1/push", PushRequest(mutations=[laptop.event("J-1", Note(text="x"))]))
    assert response.status_code == 409
    body = decode(response.content, ErrorBody)
    assert body.error == "seq_gap" and body.detail == {"expected": 2}
    assert body.field == "mutations[0].seq"
    assert world.snapshot() == before


def test_another_mutation_under_the_last_applied_seq_is_refused_not_answered(world):
    """A laptop restored from an older copy re-sends seq 2 for new work: answering it with the
    stored answer of the seq 2 applied before would drop that work silently."""
    laptop = world.device("u-li-wei")
    laptop.push(laptop.event("J-1", Checkin()), laptop.event("J-1", Note(text="applied as 2")))
    hello = laptop.hello()
    assert hello.high_seq == 2 and hello.high_hlc is not None
    laptop.seq = 1  # the restored copy's next seq is 2
    before = world.snapshot()
    response = laptop.post("/sync/v1/push", PushRequest(mutations=[laptop.event("J-1", Note(text="new"))]))
    assert response.status_code == 409
    body = decode(response.content, ErrorBody)
    assert (body.error, body.field, body.detail["expected"]) == ("seq_gap", "mutations[0].hlc", 3)
    assert world.snapshot() == before


def test_an_event_resent_under_a_new_seq_is_not_recorded_twice(world):
    laptop = world.device("u-li-wei")
    checkin = laptop.event("J-1", Checkin())
    laptop.push(checkin)
    # The laptop lost its store and re-sends the same event under a fresh seq.
    resent = msgspec.structs.replace(checkin, seq=2)
    laptop.seq = 2
    result = laptop.push(resent).results[0]
    assert (result.status, result.reason) == ("applied", "duplicate_event")
    assert len(world.db.read(lambda c: c.execute("SELECT id FROM records WHERE entity='event'").fetchall())) == 1


def test_an_event_id_reused_for_different_content_is_rejected(world):
    laptop = world.device("u-li-wei")
    checkin = laptop.event("J-1", Checkin(note="first"))
    laptop.push(checkin)
    laptop.seq += 1
    forged = msgspec.structs.replace(
        checkin, seq=laptop.seq, event=msgspec.structs.replace(checkin.event, payload=Checkin(note="second"))
    )
    result = laptop.push(forged).results[0]
    assert (result.status, result.reason, result.field) == ("rejected", "id_taken", "event.id")


@pytest.mark.parametrize(
    "job_id, payload, reason, field",
    [
        ("J-404", Checkin(), "unknown_job", "event.job_id"),
        ("J-2", Checkin(), "scope", "event.job_id"),
        (
            "J-1",
            PartSwap(equipment_id="EQ-3", sku="PSU-750W", serial_out="a", serial_in="b"),
            "unknown_equipment",
            "event.payload.equipment_id",
        ),
        (
            "J-1",
            PartSwap(equipment_id="EQ-1", sku="NOPE", serial_out="a", serial_in="b"),
            "unknown_part",
            "event.payload.sku",
        ),
        ("J-1", Backup(method="rsync"), "invalid", "event.payload.scope"),
        ("J-1", Backup(waived=True), "invalid", "event.payload.waive_reason"),
    ],
)
def test_a_bad_event_is_rejected_by_name_and_the_rest_of_the_batch_goes_on(world, job_id, payload, reason, field):
    laptop = world.device("u-li-wei")
    bad, good = laptop.event(job_id, payload), laptop.event("J-1", Note(text="after"))
    reply = laptop.push(bad, good)
    assert (reply.results[0].status, reply.results[0].reason, reply.results[0].field) == ("rejected", reason, field)
    assert reply.results[1].status == "applied"
    assert world.record("event", bad.event.id) is None
    assert reply.high_seq == 2  # a rejected seq is consumed: retrying it gets the same refusal


@pytest.mark.parametrize(
    "entity, record_id, fields, reason, field",
    [
        ("site", "S-01", {"name": "renamed"}, "forbidden_field", "fields.name"),
        ("job", "J-1", {"status": "resolved"}, "forbidden_field", "fields.status"),
        ("site", "S-02", {"contact_phone": "1"}, "scope", "id"),
        ("site", "S-01", {"no_such_field": "1"}, "invalid", "fields.no_such_field"),
        ("site", "S-404", {"contact_phone": "1"}, "unknown_record", "id"),
        ("event", "x", {"hlc": "1"}, "unknown_entity", "entity"),
    ],
)
def test_an_engineer_may_patch_only_observed_facts_in_scope(world, entity, record_id, fields, reason, field):
    laptop = world.device("u-li-wei")
    before = world.record(entity, record_id)
    result = laptop.push(laptop.patch(entity, record_id, 1, **fields)).results[0]
    assert (result.status, result.reason, result.field) == ("rejected", reason, field)
    assert world.record(entity, record_id) == before


def test_a_patch_with_a_value_of_the_wrong_type_is_rejected_naming_the_field(world):
    laptop = world.device("u-li-wei")
    result = laptop.push(laptop.patch("equipment", "EQ-1", 1, parameters="not a map")).results[0]
    assert (result.status, result.reason, result.field) == ("rejected", "invalid", "fields.parameters")


BAD_BODIES = [
    (JSON, b'{"mutations": [{"op": "event", "seq": "one"}]}', 400, "mutations[0].seq"),
    (JSON, b'{"mutations": [{"op": "teleport", "seq": 1, "hlc": "0000000000000001"}]}', 400, "mutations[0].op"),
    (
        JSON,
        b'{"mutations": [{"op": "event", "seq": 1, "hlc": "0193f1c2a4b00001", "event": '
        b'{"entity": "event", "id": "e1", "job_id": "J-1", "hlc": "0193f1c2a4b00001", '
        b'"at": "2026-11-25T09:00:00Z", "payload": {"kind": "checkin", "note": 5}}}]}',
        400,
        "mutations[0].event.payload.note",
    ),
    (
        JSON,
        b'{"mutations": [{"op": "event", "seq": -4, "hlc": "0193f1c2a4b00001"}]}',
        422,
        "mutations[0].seq",
    ),  # the right type out of its bounds: invalid, not malformed
    (JSON, b'{"mutations": ', 400, "body"),
    (JSON, b"[1, 2, 3]", 400, None),
    (MSGPACK, b"\xc1\xc1\xc1", 400, "body"),
    (MSGPACK, encode({"mutations": [{"op": "event", "seq": 1, "hlc": "zz"}]}), 422, "mutations[0].hlc"),
    (JSON, b"", 400, "body"),
    ("text/plain", b"hello", 400, "content-type"),
]


@pytest.mark.parametrize("content_type, body, status, field", BAD_BODIES)
def test_a_malformed_push_is_refused_naming_the_field_and_changes_nothing(world, content_type, body, status, field):
    laptop = world.device("u-li-wei")
    laptop.push(laptop.event("J-1", Checkin()))
    before = world.snapshot()
    response = world.client.post(
        "/sync/v1/push", content=body, headers={**laptop.headers, "content-type": content_type, "accept": JSON}
    )
    assert response.status_code == status, response.text
    error = decode(response.content, ErrorBody, JSON)
    assert error.error == ("malformed" if status == 400 else "invalid") and error.message
    assert error.field == field
    assert world.snapshot() == before


def test_an_oversized_batch_is_refused_with_413(world):
    laptop = world.device("u-li-wei")
    mutations = [laptop.event("J-1", Note(text="n")) for _ in range(5001)]
    response = world.client.post("/sync/v1/push", content=encode({"mutations": mutations}), headers=laptop.headers)
    assert response.status_code == 413
    assert decode(response.content, ErrorBody).field == "mutations"


def test_a_body_over_the_size_limit_is_refused_with_413(world):
    laptop = world.device("u-li-wei")
    response = world.client.post("/sync/v1/push", content=b"\x00" * (8 * 1024 * 1024 + 1), headers=laptop.headers)
    assert response.status_code == 413
    assert decode(response.content, ErrorBody).error == "too_large"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_every_sync_endpoint_needs_a_valid_token(world, header):
    headers = {"content-type": JSON, **({"authorization": header} if header else {})}
    for path in ("/sync/v1/hello", "/sync/v1/push", "/sync/v1/pull"):
        body = (
            b'{"protocol_version": 1}'
            if path.endswith("hello")
            else b'{"mutations": []}'
            if path.endswith("push")
            else b"{}"
        )
        response = world.client.post(path, content=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert decode(response.content, ErrorBody, JSON).error == "unauthorized"


def test_a_revoked_device_is_refused_at_once(world):
    from server.auth import revoke_device

    laptop = world.device("u-li-wei")
    laptop.hello()
    device_id = laptop.hello().device_id
    world.db.write(lambda c: revoke_device(c, device_id))
    response = laptop.post("/sync/v1/push", PushRequest(mutations=[laptop.event("J-1", Checkin())]))
    assert response.status_code == 401
    assert "revoked" in decode(response.content, ErrorBody).message


def test_a_device_that_has_applied_nothing_may_push_without_hello_at_mark_zero(world):
    """Hello tells a new device it stands at ``high_seq`` 0 with no ``high_hlc``; its first push
    may name that mark (``after_seq`` 0, no ``after_hlc``) instead of saying hello again. Once
    it has pushed, that mark is refused with ``hello_required`` and nothing is applied."""
    laptop = world.device("u-li-wei")
    first = laptop.event("J-1", Checkin())
    taken = laptop.post("/sync/v1/push", PushRequest(mutations=[first], after_seq=0))
    assert taken.status_code == 200, taken.text
    assert [r.status for r in decode(taken.content, PushReply, laptop.fmt).results] == ["applied"]
    stale = laptop.post("/sync/v1/push", PushRequest(mutations=[laptop.event("J-1", Note(text="x"))], after_seq=0))
    assert stale.status_code == 409
    assert decode(stale.content, ErrorBody, laptop.fmt).error == "hello_required"
    assert laptop.hello().high_seq == 1


def test_a_push_whose_page_fails_is_still_answered_and_the_laptop_pulls_on_its_own(world, monkeypatch, caplog):
    """The push has committed when its page is computed: a page that fails (the store busy or
    gone, a fault) must not lose the answers. They come without ``pull``, and the laptop's own
    pull from the same cursor brings what the page would have."""
    laptop = world.device("u-li-wei")
    laptop.pull_all()
    note = laptop.event("J-1", Note(text="fan replaced"))

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store went away")

    with monkeypatch.context() as patched:
        patched.setattr(server_pull, "pull", failing)
        reply = laptop.push(note, pull=PullRequest(cursor=laptop.cursor, limit=100))
    assert [r.status for r in reply.results] == ["applied"] and reply.pull is None
    assert "the page after device" in caplog.text
    pulled = laptop.pull_all()
    assert any(getattr(change, "record", None) and change.record.id == note.event.id for change in pulled)
