"""The pytest fixtures of the end-to-end harness (``tests/support/live.py``), for every test folder:
``tests/conftest.py`` makes them available everywhere.

A server store is initialised and loaded through the CLI once per session (``server_template``);
each test serves a fresh copy (``server_data``, ``live_server``) and enrolls real laptops on it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from .blobstores import BlobBackend
from .live import TOKENS_PER_USER, DEMO_DATA, DEMO_USERS, LiveServer, cli_json, run_cli


@pytest.fixture(scope="session")
def server_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    """A server store initialised and loaded through the CLI once per session; tests copy it."""
    data = tmp_path_factory.mktemp("template") / "server"
    admin = cli_json("field-server", "init", "--data", str(data))
    (data.parent / "admin_token").write_text(admin["admin_token"])
    run_cli("field-server", "load-fixtures", "--data", str(data), str(DEMO_DATA))
    tokens = {
        name: [
            str(cli_json("field-server", "user", "add", name, "--role", role, "--data", str(data))["enrollment_token"])
            for _ in range(TOKENS_PER_USER)
        ]
        for name, role in DEMO_USERS.items()
    }
    return data, tokens


@pytest.fixture
def server_data(tmp_path: Path, server_template: tuple[Path, dict[str, list[str]]]) -> Path:
    """A fresh copy of the template store for one test (the template is never served)."""
    template, tokens = server_template
    data = tmp_path / "server"
    shutil.copytree(template, data)
    (tmp_path / "admin_token").write_text((template.parent / "admin_token").read_text())
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    return data


@pytest.fixture
def live_server(server_data: Path, blob_store: BlobBackend) -> Iterator[LiveServer]:
    """The server on a fresh copy of the template, its blobs where ``blob_store`` says (the
    directory under ``--data`` unless a test is parametrized with "s3": tests/support/blobstores.py)."""
    blob_store.seed(server_data)
    server = LiveServer(server_data, blobs=blob_store.url)
    server.blob_store = blob_store  # type: ignore[attr-defined]
    server.admin_token = (server_data.parent / "admin_token").read_text()  # type: ignore[attr-defined]
    with server:
        yield server


@pytest.fixture
def laptop(tmp_path: Path, live_server: LiveServer) -> Iterator[Any]:
    """``laptop("li-wei")``: a real FieldClient in its own home, enrolled on the live server."""
    from field_client import FieldClient

    made: list[Any] = []

    def make(
        name: str = "li-wei", role: str = "engineer", http: httpx.BaseTransport | None = None, retries: int = 2
    ) -> Any:
        client = FieldClient(
            tmp_path / f"laptop-{name}-{len(made)}", http=http, retries=retries, backoff=0.01, timeout=20
        )
        client.login(live_server.url, live_server.enrollment(name, role))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def engineer(live_server: LiveServer) -> Iterator[httpx.Client]:
    """Li Wei's enrolled device, as a bare HTTP client (JSON bodies): for tests of the wire itself."""
    token = live_server.enrollment("li-wei")
    reply = httpx.post(f"{live_server.url}/sync/v1/enroll", json={"enrollment_token": token}).json()
    with httpx.Client(
        base_url=live_server.url, timeout=20, headers={"Authorization": f"Bearer {reply['device_token']}"}
    ) as client:
        yield client
