"""Every endpoint x every role, generated from the app's route table: a new endpoint cannot be
forgotten. Plus: a revoked device is refused everywhere at once, and tokens never reach the log.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from server.app import create_app
from tests.support.live import LiveServer, run_cli

PUBLIC = re.compile(r"^(/healthz|/schema.*|/static/.*|/office/login|/office/language|/sync/v1/enroll)$")
SAMPLE = {
    "sha256": "a" * 64,
    "job_id": "J-0001",
    "record_id": "S-01",
    "conflict_id": "nope",
    "collection": "sites",
    "file_path": "office.css",
    "path": "x",
}
ROLES = ("none", "revoked", "engineer", "dispatcher", "supervisor", "admin")


def _routes() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Path(scratch) / "server")
        routes = [
            (method, route.path)
            for route in app.routes
            for method in sorted(route.methods)
            if method not in ("OPTIONS", "HEAD")
        ]
        app.state.fieldsync.close()
    return routes


ROUTES = _routes()
PROTECTED = [(m, p) for m, p in ROUTES if not PUBLIC.match(p)]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE.get(m.group(1), "x"), path)


@pytest.fixture(scope="module")
def world(live_server: LiveServer, attack) -> Iterator[tuple[LiveServer, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A token per role on the security suite's shared server, one of them revoked. The job the
    matrix's requests name is its own (a dispatcher's ``cancel`` really cancels it)."""
    server = live_server

    def enroll(name: str, role: str) -> str:
        reply = httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": server.enrollment(name, role)})
        return str(reply.json()["device_token"])

    SAMPLE["job_id"] = attack.new_job(fault="the authorization matrix's job")
    held = {
        "engineer": enroll("li-wei", "engineer"),
        "dispatcher": enroll("chen-jing", "dispatcher"),
        "supervisor": enroll("zhao-lei", "supervisor"),
        "revoked": enroll("wang-fang", "engineer"),
        "admin": server.admin_token,
        "none": "",
    }  # type: ignore[attr-defined]
    revoked_id = httpx.post(
        f"{server.url}/sync/v1/hello",
        json={"protocol_version": 1},
        headers={"Authorization": f"Bearer {held['revoked']}"},
    ).json()["device_id"]
    run_cli("field-server", "device", "revoke", revoked_id, "--data", str(server.data_dir))
    yield server, held


def call(server: LiveServer, token: str, method: str, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(
        method, server.url + concrete(path), headers=headers, json={}, follow_redirects=False, timeout=10
    )


def test_the_route_table_is_covered() -> None:
    assert len(PROTECTED) >= 40
    assert {p for _, p in PROTECTED if p.startswith("/sync/v1")} >= {
        "/sync/v1/hello",
        "/sync/v1/push",
        "/sync/v1/pull",
        "/sync/v1/blobs/{sha256:str}",
    }


@pytest.mark.parametrize("method, path", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_endpoint_by_every_role(world, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    server, tokens = world
    office_page = path.startswith("/office")
    for role in ROLES:
        answer = call(server, tokens[role], method, path)
        status = answer.status_code
        assert status < 500, (role, method, path, answer.text[:300])
        if office_page:
            # Office pages authenticate by session cookie only: a bearer token opens none.
            assert status in (302, 303, 401, 403), (role, method, path, status)
        elif role in ("none", "revoked"):
            assert status == 401, (role, method, path, status)
        elif role == "engineer" and path.startswith("/api/v1"):
            assert status == 403, (role, method, path, status)
        else:
            assert status not in (401,), (role, method, path, status)


def test_tokens_never_reach_the_server_log(world) -> None:  # type: ignore[no-untyped-def]
    server, tokens = world
    for role in ROLES:
        call(server, tokens[role], "POST", "/sync/v1/hello")
        call(server, tokens[role], "GET", "/api/v1/jobs")
    httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": "fs_e_not-a-real-token-1234"})
    log = server.log.read_text()
    assert log  # the server does log requests
    for role, token in tokens.items():
        if token:
            assert token not in log, f"{role}'s token is in the log"
    assert "fs_e_not-a-real-token-1234" not in log


def _version(server: LiveServer, entity: str, record_id: str) -> int:
    from tests.support.databases import query

    return int(query(server.data_dir, "SELECT version FROM records WHERE entity=? AND id=?", entity, record_id)[0][0])


WRITTEN = ("applied", "merged", "conflict")
# What each role's push of the same six mutations becomes: the office API's rules, on push.
PUSH_MATRIX = {
    "engineer": [WRITTEN, WRITTEN, "forbidden_field", "forbidden_field", "forbidden_field", "forbidden_field"],
    "dispatcher": ["forbidden", WRITTEN, WRITTEN, WRITTEN, "forbidden_field", WRITTEN],
    "admin": ["forbidden", WRITTEN, WRITTEN, WRITTEN, "forbidden_field", WRITTEN],
    "supervisor": ["forbidden"] * 6,
}


@pytest.mark.parametrize("role", [*PUSH_MATRIX, "revoked", "none"])
def test_push_by_every_role(world, attack, role: str) -> None:  # type: ignore[no-untyped-def]
    """``/sync/v1/push`` per role: an event on a job of its own (Li Wei's: the matrix's job may
    already be cancelled by the dispatcher's row of the test above, and pytest orders the two
    tests as it likes), an observed fact and an office field of its site, the job's fault and
    assignee, a part's price."""
    from sync_protocol import Clock, uuid7

    server, tokens = world
    headers = {"Authorization": f"Bearer {tokens[role]}"} if tokens[role] else {}
    hello = httpx.post(f"{server.url}/sync/v1/hello", json={"protocol_version": 1}, headers=headers)
    if role in ("none", "revoked"):
        assert hello.status_code == 401
        answer = httpx.post(f"{server.url}/sync/v1/push", headers=headers, json={"mutations": []})
        assert answer.status_code == 401
        return
    clock, seq = Clock(), hello.json()["high_seq"]
    job = attack.new_job(fault=f"the push matrix's job for the {role}")

    def patch(entity: str, record_id: str, **fields: object) -> dict:
        return {
            "op": "patch",
            "hlc": clock.tick(),
            "entity": entity,
            "id": record_id,
            "base_version": _version(server, entity, record_id),
            "fields": fields,
        }

    stamp = clock.tick()
    mutations = [
        {
            "op": "event",
            "hlc": stamp,
            "event": {
                "entity": "event",
                "id": uuid7(),
                "job_id": job,
                "hlc": stamp,
                "at": "2026-11-25T09:30:00Z",
                "payload": {"kind": "note", "text": role},
            },
        },
        patch("site", "S-01", contact_phone=f"+86 21 {role}"),
        patch("site", "S-01", name=f"Site renamed by the {role}"),
        patch("job", job, fault=f"fault as the {role} saw it"),
        patch("job", job, assignee="u-zhang-min"),
        patch("part", "PSU-750W", price_cents=90_000),
    ]
    body = {"mutations": [{"seq": seq + i + 1, **m} for i, m in enumerate(mutations)]}
    answer = httpx.post(f"{server.url}/sync/v1/push", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    for expected, result, mutation in zip(PUSH_MATRIX[role], answer.json()["results"], mutations, strict=True):
        got = result["status"] if result["status"] != "rejected" else result["reason"]
        assert got in expected if isinstance(expected, tuple) else got == expected, (role, mutation, result)
