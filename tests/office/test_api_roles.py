"""Every ``/api/v1`` endpoint: 401 without a token, 403 for a role it is not for.

The endpoints are read from the OpenAPI schema the server publishes, so an endpoint added
later is covered without anyone remembering to add it here.
"""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from server.app import create_app

from .conftest import bearer, make_tokens

# Who may call what: everything else under /api/v1 is for every office role.
DISPATCH_ONLY_METHODS = {"post", "patch", "put", "delete"}
AUDIT_PATHS = {
    "/api/v1/audit/backups",
    "/api/v1/audit/backups.csv",
    "/api/v1/audit/findings/{job_id}/{engineer}/review",  # supervisors (and admins) mark, nobody else
}
# A body that decodes, for the endpoint that reads its body before authenticating.
BODIES = {("post", "/api/v1/jobs/{job_id}/assign"): {"assignee": "li-wei"}}


def _endpoints() -> list[tuple[str, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(tmp)
        with TestClient(app) as client:
            schema = client.get("/schema/openapi.json").json()
        app.state.fieldsync.close()
    return sorted(
        (method, path)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    )


ENDPOINTS = _endpoints()


@pytest.fixture(scope="module")
def api(office_template, tmp_path_factory):
    """One app for the whole module: nothing here gets past a guard to write."""
    from tests.support.databases import copied_store

    with copied_store(office_template, tmp_path_factory.mktemp("roles") / "server") as data:
        app = create_app(data)
        with TestClient(app) as client:
            yield client, make_tokens(app)


def _url(path: str) -> str:
    return path.replace("{job_id}", "J-0001").replace("{conflict_id}", "nope").replace("{record_id}", "S-01")


def _call(client, method: str, path: str, headers: dict[str, str]):
    body = BODIES.get((method, path), {})
    kwargs = {"json": body} if method != "get" else {}
    return client.request(method.upper(), _url(path), headers=headers, **kwargs)


def test_the_schema_lists_the_office_api() -> None:
    paths = {p for _, p in ENDPOINTS}
    assert {"/api/v1/jobs", "/api/v1/conflicts", "/api/v1/audit/backups", "/api/v1/sites/{record_id}"} <= paths
    assert len(ENDPOINTS) >= 25


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_token_is_401(api, method: str, path: str) -> None:
    client, _ = api
    answer = _call(client, method, path, {})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_an_engineer_is_403(api, method: str, path: str) -> None:
    client, tokens = api
    answer = _call(client, method, path, bearer(tokens["li-wei"]))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    ("method", "path"), [e for e in ENDPOINTS if e[0] in DISPATCH_ONLY_METHODS or e[1] in AUDIT_PATHS]
)
def test_the_other_office_role_is_403(api, method: str, path: str) -> None:
    client, tokens = api
    wrong = "chen-jing" if path in AUDIT_PATHS else "zhao-lei"
    answer = _call(client, method, path, bearer(tokens[wrong]))
    assert answer.status_code == 403, answer.text


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if e[0] == "get"])
def test_the_right_role_gets_through(api, method: str, path: str) -> None:
    client, tokens = api
    who = "zhao-lei" if path in AUDIT_PATHS else "chen-jing"
    answer = _call(client, method, path, bearer(tokens[who]))
    assert answer.status_code in (200, 404), answer.text  # 404: a made-up id, past the guard


def test_a_browser_session_may_read_the_api_but_not_write_it(dispatcher) -> None:
    assert dispatcher.get("/api/v1/jobs").status_code == 200
    answer = dispatcher.post("/api/v1/jobs/J-0001/cancel")
    assert answer.status_code == 401  # a cookie alone never writes: no CSRF exposure
