"""Property-based fuzzing of every endpoint in the OpenAPI schema: no answer is a 5xx.

Schemathesis generates requests from ``/schema/openapi.json`` (the office API under ``/api/v1``
and the sync endpoints under ``/sync/v1``) and sends them to a real server process over
loopback, authenticated as a dispatcher. A bounded number of examples keeps it in ``make test``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error

from server.app import create_app

from tests.e2e.conftest import LiveServer  # noqa: E402


@pytest.fixture(scope="module")
def fuzzed(server_template, tmp_path_factory) -> Iterator[tuple[LiveServer, str]]:  # type: ignore[no-untyped-def]
    template, tokens = server_template
    data = tmp_path_factory.mktemp("fuzz") / "server"
    shutil.copytree(template, data)
    with LiveServer(data) as server:
        reply = httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": tokens["chen-jing"][0]})
        yield server, reply.json()["device_token"]


def _openapi() -> dict:  # type: ignore[type-arg]
    """The schema the server publishes, read from an app over a scratch store (no server needed
    at collection time; the requests go to the real process)."""
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Path(scratch) / "server")
        with TestClient(app) as client:
            return client.get("/schema/openapi.json").json()  # type: ignore[no-any-return]


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_endpoint_answers_a_server_error(case, fuzzed) -> None:  # type: ignore[no-untyped-def]
    server, token = fuzzed
    case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error])
