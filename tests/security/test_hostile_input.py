"""Hostile bodies over real HTTP: refused with the field named, and the store unchanged.

Huge strings, deep nesting, negative and replayed sequence numbers, path traversal in blob
names; and SQL metacharacters, which are data like any other: stored and returned verbatim.
"""

from __future__ import annotations

import msgspec
import pytest

from sync_protocol import uuid7
from tests.support.live import VALID_EVENT, snapshot


def _deep(levels: int) -> bytes:
    """A push whose event is nested ``levels`` deep (written by hand: encoders refuse it)."""
    return (
        b'{"mutations": [{"op": "event", "seq": 1, "hlc": "0193f1c2a4b00001", "event": '
        + b'{"a": ' * levels
        + b'"x"'
        + b"}" * levels
        + b"}]}"
    )


def _event(**payload_or_fields: object) -> dict:
    """A valid event mutation with its own event id (the suite shares one store), changed as given."""
    event = {**VALID_EVENT["event"], "id": uuid7(), **payload_or_fields}
    return {**VALID_EVENT, "event": event}


HOSTILE = [
    (
        "huge text",
        {"mutations": [_event(payload={"kind": "note", "text": "x" * 5000})]},
        422,
        "mutations[0].event.payload.text",
    ),
    ("huge id", {"mutations": [_event(id="e" * 65)]}, 422, "mutations[0].event.id"),
    ("deep nesting", _deep(5000), 400, None),
    (
        "text that is not UTF-8",
        msgspec.json.encode({"mutations": [_event(payload={"kind": "note", "text": "NOTE"})]}).replace(
            b"NOTE", b"\xff\xfe"
        ),
        400,
        "body",
    ),
    ("negative seq", {"mutations": [{**VALID_EVENT, "seq": -1}]}, 422, "mutations[0].seq"),
    ("seq beyond 2^53", {"mutations": [{**VALID_EVENT, "seq": 2**60}]}, 422, "mutations[0].seq"),
    (
        "SQL in an id",
        {"mutations": [_event(job_id="J-0001'; DROP TABLE records;--")]},
        422,
        "mutations[0].event.job_id",
    ),
]


@pytest.mark.parametrize("name, body, status, field", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_pushes_are_refused_by_name_and_change_nothing(
    live_server, engineer, name, body, status, field
) -> None:
    before = snapshot(live_server)
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    answer = engineer.post("/sync/v1/push", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code in (status, 400), (name, answer.status_code, answer.text[:300])
    reply = answer.json()
    assert reply["error"] in ("malformed", "invalid") and reply["message"]
    if field:
        assert reply["field"] == field, (name, reply)
    assert snapshot(live_server) == before


def test_a_replayed_batch_is_answered_the_same_and_applied_once(live_server, engineer) -> None:
    body = {"mutations": [_event()]}
    first = engineer.post("/sync/v1/push", json=body).json()
    after_first = snapshot(live_server)
    again = engineer.post("/sync/v1/push", json=body).json()
    assert again["results"] == first["results"]
    assert snapshot(live_server)["records"] == after_first["records"]


@pytest.mark.parametrize(
    "name", ["..%2F..%2Ffieldsync.db", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fsecret", "a" * 63 + "%00"]
)
def test_blob_names_cannot_reach_outside_the_blob_store(live_server, engineer, name: str) -> None:
    before = snapshot(live_server)
    for method, extra in (("GET", ""), ("GET", "/status"), ("PUT", "?offset=0&size=1")):
        answer = engineer.request(method, f"/sync/v1/blobs/{name}{extra}", content=b"x")
        assert answer.status_code in (400, 404), (method, name, answer.status_code)
        assert b"SQLite" not in answer.content and b"root:" not in answer.content
    assert snapshot(live_server) == before


def test_sql_metacharacters_in_text_are_stored_verbatim(live_server, engineer) -> None:
    text = "'; DROP TABLE records; -- \" OR 1=1 /* 王工 */ %_ \\"
    jobs = len(live_server.records("job"))
    mutation = _event(payload={"kind": "note", "text": text})
    answer = engineer.post("/sync/v1/push", json={"mutations": [mutation]})
    assert answer.json()["results"][0]["status"] == "applied"
    stored = live_server.records("event")[mutation["event"]["id"]]
    assert stored["payload"]["text"] == text
    assert len(live_server.records("job")) == jobs  # the records table is still there, whole


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/jobs", "/api/v1/sites"])
def test_deep_nesting_to_the_office_api_is_a_400_not_a_crash(live_server, path: str) -> None:
    from tests.support.live import office

    deep = b'{"a": ' * 5000 + b'"x"' + b"}" * 5000
    with office(live_server) as dispatcher:
        before = snapshot(live_server)
        answer = dispatcher.post(path, content=deep, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["field"] == "body"
    assert snapshot(live_server) == before


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def test_a_gzip_push_is_applied_like_a_plain_one(live_server, engineer) -> None:
    body = msgspec.msgpack.encode({"mutations": [_event()]})
    answer = engineer.post(
        "/sync/v1/push",
        content=_gzip(body),
        headers={"content-type": "application/msgpack", "content-encoding": "gzip"},
    )
    assert answer.status_code == 200 and msgspec.msgpack.decode(answer.content)["results"][0]["status"] == "applied"


@pytest.mark.parametrize(
    "name, content, encoding, status, field",
    [
        ("unknown encoding", b"x", "br", 400, "content-encoding"),
        ("damaged gzip", b"\x1f\x8b\x08\x00garbage", "gzip", 400, "body"),
        ("gzip bomb", None, "gzip", 413, "body"),
    ],
)
def test_bad_compressed_bodies_are_refused_and_change_nothing(
    live_server, engineer, name, content, encoding, status, field
) -> None:
    if content is None:  # 64 MiB of zeros in ~64 KiB: must not be inflated past the body limit
        content = _gzip(b"\0" * (64 * 1024 * 1024))
    before = snapshot(live_server)
    answer = engineer.post(
        "/sync/v1/push", content=content, headers={"content-type": "application/json", "content-encoding": encoding}
    )
    assert (answer.status_code, answer.json()["field"]) == (status, field), (name, answer.text[:200])
    assert snapshot(live_server) == before
