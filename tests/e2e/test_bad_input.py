"""Bad input over real HTTP: the right status, a message naming the field, and no write at all."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from tests.support.live import VALID_EVENT, office, snapshot

CASES = [
    # (method, path, kwargs, status, error, field)
    (
        "POST",
        "/sync/v1/push",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "malformed",
        "body",
    ),
    (
        "POST",
        "/sync/v1/push",
        {"json": {"mutations": [{**VALID_EVENT, "seq": "one"}]}},
        400,
        "malformed",
        "mutations[0].seq",
    ),
    (
        "POST",
        "/sync/v1/push",
        {"json": {"mutations": [{**VALID_EVENT, "op": "delete"}]}},
        400,
        "malformed",
        "mutations[0].op",
    ),
    (
        "POST",
        "/sync/v1/push",
        {
            "json": {
                "mutations": [
                    {
                        **VALID_EVENT,
                        "event": {
                            **VALID_EVENT["event"],
                            "payload": {"kind": "diagnosis", "cause": "gremlins", "findings": "?"},
                        },
                    }
                ]
            }
        },
        400,
        "malformed",
        "mutations[0].event.payload.cause",
    ),
    (
        "POST",
        "/sync/v1/push",
        {
            "content": msgspec.msgpack.encode({"mutations": [{**VALID_EVENT, "seq": 0}]}),
            "headers": {"content-type": "application/msgpack"},
        },
        422,
        "invalid",
        "mutations[0].seq",
    ),
    ("POST", "/sync/v1/push", {"json": {"mutations": [{**VALID_EVENT, "seq": 5}]}}, 409, "seq_gap", "mutations[0].seq"),
    (
        "POST",
        "/sync/v1/push",
        {"content": b"<xml/>", "headers": {"content-type": "text/xml"}},
        400,
        "malformed",
        "content-type",
    ),
    ("POST", "/sync/v1/pull", {"json": {"limit": 100_000}}, 413, "too_large", "limit"),
    ("POST", "/sync/v1/pull", {"json": {"cursor": "7-0000000000000000"}}, 400, "malformed", "cursor"),
    ("POST", "/sync/v1/hello", {"json": {"client_version": "x"}}, 400, "malformed", "protocol_version"),
    ("POST", "/sync/v1/hello", {"json": {"protocol_version": 99}}, 426, "upgrade_required", "protocol_version"),
    ("PUT", "/sync/v1/blobs/" + "a" * 64 + "?offset=ten&size=3", {"content": b"abc"}, 400, "malformed", "offset"),
    ("PUT", "/sync/v1/blobs/" + "a" * 64 + "?offset=3&size=3", {"content": b"abc"}, 409, "offset_mismatch", "offset"),
    ("PUT", "/sync/v1/blobs/" + "a" * 64 + "?offset=0&size=3", {"content": b"abc"}, 422, "sha256_mismatch", "sha256"),
    ("PUT", "/sync/v1/blobs/not-a-hash?offset=0&size=3", {"content": b"abc"}, 400, "malformed", "sha256"),
    ("POST", "/api/v1/jobs/J-0001/assign", {"json": {"assignee": "zhang-min"}}, 403, "forbidden", "role"),
]


@pytest.mark.parametrize(
    "method, path, kwargs, status, error, field", CASES, ids=[f"{c[0]} {c[1][:30]} {c[4]} {c[5]}" for c in CASES]
)
def test_bad_input_is_refused_by_name_and_changes_nothing(
    live_server, engineer, method, path, kwargs, status, error, field
) -> None:
    before = snapshot(live_server)

    answer = engineer.request(method, path, **kwargs)

    assert answer.status_code == status, answer.text
    body = answer.json() if "json" in answer.headers.get("content-type", "") else msgspec.msgpack.decode(answer.content)
    assert body["error"] == error and body.get("field") == field and body["message"]
    assert snapshot(live_server) == before


def test_an_office_assignment_of_an_unknown_engineer_names_the_field(live_server) -> None:
    with office(live_server) as dispatcher:
        before = snapshot(live_server)
        answer = dispatcher.post("/api/v1/jobs/J-0011/assign", json={"assignee": "nobody"})
        assert answer.status_code == 422 and answer.json()["field"] == "assignee"
        unknown = dispatcher.post("/api/v1/jobs/J-9999/assign", json={"assignee": "li-wei"})
        assert unknown.status_code == 404
        assert snapshot(live_server) == before


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/sync/v1/hello"),
        ("POST", "/sync/v1/push"),
        ("POST", "/sync/v1/pull"),
        ("GET", "/sync/v1/blobs/" + "a" * 64),
        ("GET", "/sync/v1/blobs/" + "a" * 64 + "/status"),
        ("POST", "/api/v1/jobs/J-0001/assign"),
    ],
)
def test_every_endpoint_refuses_a_caller_without_a_token(live_server, method, path) -> None:
    bodies = {
        "/sync/v1/hello": {"protocol_version": 1},
        "/sync/v1/push": {"mutations": []},
        "/sync/v1/pull": {},
        "/api/v1/jobs/J-0001/assign": {"assignee": "li-wei"},
    }
    answer = httpx.request(method, live_server.url + path, json=bodies.get(path))
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
