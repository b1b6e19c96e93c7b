"""Property-based fuzzing of every endpoint in the OpenAPI schema: the server keeps to it.

Schemathesis generates requests from ``/schema/openapi.json`` (the office API under ``/api/v1``
and the sync endpoints under ``/sync/v1``) and sends them to a real server process over
loopback, authenticated as a dispatcher (as a supervisor for the backup audit, theirs). Every
answer must

* not be a 5xx (``not_a_server_error``),
* have a status the operation documents (``status_code_conformance``): errors are declared per
  route in ``server/openapi.py``,
* have a documented content type (``content_type_conformance``),
* match the documented schema (``response_schema_conformance``): the reply Struct, or an
  ``ErrorBody`` for every error.

The sync endpoints take and answer JSON or MessagePack: requests are sent in both (the
serializer below) and MessagePack answers are checked against the same schemas, read as JSON
would write them (timestamps as RFC 3339 strings). A blob download answers raw bytes
(``application/octet-stream``): its content type is checked, its bytes have no schema to check.
Generated ids rarely name a record, so ``test_real_records_keep_to_the_schema`` also checks the
answers about the demo data's records once. A bounded number of examples keeps the file in
``make test``.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, reject, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.app import create_app
from sync_protocol import JSON, MAX_PULL_PAGE, MSGPACK, PullPage, PullRequest, decode, encode

from tests.support.live import LiveServer  # noqa: E402

Fuzzed = tuple[LiveServer, dict[str, str]]  # the server, and a device token per user name
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schemathesis.serializer(MSGPACK)
def _to_msgpack(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    try:
        return msgspec.msgpack.encode(value)
    except OverflowError:  # an integer past 64 bits: no MessagePack client can send it
        reject()


@schemathesis.deserializer(MSGPACK)
def _from_msgpack(ctx: schemathesis.DeserializationContext, response: Any) -> Any:
    return msgspec.to_builtins(msgspec.msgpack.decode(response.content))


def _openapi() -> dict:  # type: ignore[type-arg]
    """The schema the server publishes, read from an app over a scratch store (no server needed
    at collection time; the requests go to the real process)."""
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Path(scratch) / "server")
        with TestClient(app) as client:
            return client.get("/schema/openapi.json").json()  # type: ignore[no-any-return]


# The coverage phase (the schema's boundary values, deterministic) is not bounded by
# max_examples, and its broken inputs run to thousands of requests (~1,100 for a push alone: 12
# kinds of event payload, each field broken every way) that the shared decoders refuse alike.
# It keeps to valid inputs; broken ones come from the fuzzing phase, bounded like the rest.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"generation": {"mode": "positive"}}}})
DOCUMENT = _openapi()
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)


@pytest.fixture(scope="module")
def fuzzed(live_server: LiveServer) -> Iterator[Fuzzed]:
    """The security suite's shared server (what the fuzzing creates stays there for the
    aftermath checks), and a device token for a dispatcher and for a supervisor (the backup
    audit is theirs); their enrollments are the answers of ``/sync/v1/enroll`` the fuzzing
    cannot reach."""
    server = live_server
    devices = {}
    for user, role in (("chen-jing", "dispatcher"), ("zhao-lei", "supervisor")):
        reply = httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": server.enrollment(user, role)})
        schema["/sync/v1/enroll"]["POST"].validate_response(reply)
        devices[user] = reply.json()["device_token"]
    yield server, devices


def test_every_sync_and_office_operation_is_documented() -> None:
    """What the fuzzing below relies on: bodies and answers declared, not left to litestar."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if not path.startswith(("/sync/v1/", "/api/v1/")):
                continue
            responses = operation["responses"]
            assert {"401"} <= set(responses), (method, path)
            for status, answer in responses.items():
                if int(status) >= 400:
                    for media in answer["content"].values():
                        assert media["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            if method in ("post", "put", "patch") and not path.endswith("/cancel"):
                assert "requestBody" in operation, (method, path)


def test_real_records_keep_to_the_schema(fuzzed) -> None:  # type: ignore[no-untyped-def]
    """Generated ids meet only 404s: each record-reading answer is also checked on the demo data
    once, and a full pull (every record the server holds) in both formats."""
    server, devices = fuzzed
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {devices['chen-jing']}"}) as client:

        def check(
            method: str, template: str, path: dict[str, str] | None = None, status: int = 200, **kwargs: Any
        ) -> Any:
            reply = client.request(method, template.format(**(path or {})), **kwargs)
            assert reply.status_code == status, reply.text
            schema[template][method].validate_response(reply)
            return reply

        jobs = check("GET", "/api/v1/jobs").json()
        assert jobs
        for job in jobs[:5]:
            check("GET", "/api/v1/jobs/{job_id}", {"job_id": job["id"]})
            check("GET", "/api/v1/jobs/{job_id}/sheet", {"job_id": job["id"]})
        check("GET", "/api/v1/conflicts", params={"status": "all"})
        for collection in ("customers", "sites", "equipment", "parts", "drawings", "stock"):
            rows = check("GET", f"/api/v1/{collection}").json()
            assert rows, collection
            for row in rows[:3]:
                check("GET", f"/api/v1/{collection}/{{record_id}}", {"record_id": row["record"]["id"]})
            if collection == "drawings":
                blob = {"sha256": rows[0]["record"]["sha256"]}
                check("GET", "/sync/v1/blobs/{sha256}/status", blob)
                check("GET", "/sync/v1/blobs/{sha256}/status", {"sha256": blob["sha256"] + "%0A"}, 400)
                check("GET", "/sync/v1/blobs/{sha256}", blob)
                for header, status in (
                    (b"bytes=1-2", 206),
                    (b"bytes=99999999999-", 416),
                    (b"bytes=\xb2-", 400),
                ):  # "²".isdigit(), but int() refuses it
                    check("GET", "/sync/v1/blobs/{sha256}", blob, status, headers={"Range": header})
        for fmt in (JSON, MSGPACK):
            page = PullPage(changes=[], cursor="", more=True, server_hlc="")
            while page.more:
                body = encode(PullRequest(cursor=page.cursor or None, limit=MAX_PULL_PAGE), fmt)
                reply = check("POST", "/sync/v1/pull", content=body, headers={"Content-Type": fmt})
                page = decode(reply.content, PullPage, fmt)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_keeps_to_the_schema(case, fuzzed) -> None:  # type: ignore[no-untyped-def]
    server, devices = fuzzed
    token = devices["zhao-lei" if case.path.startswith("/api/v1/audit/") else "chen-jing"]
    case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
