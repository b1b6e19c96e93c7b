"""The office app in-process: the demo store, device tokens per role, and a signed-in browser.

A store with the demo fixtures is built once per session and copied per test (loading takes a
second; copying a few milliseconds). ``TestClient`` runs the real app, middleware included.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server import auth
from server.app import create_app
from server.blobstore import DirectoryStore
from server.fixtures import load_fixtures
from server.storage import database_url, open_database
from tests.support.databases import create_database, database_of, drop_database, use_database
from tests.support.fixtures import PerBackend
from sync_protocol import uuid7
from sync_protocol.hlc import Clock

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "fixtures" / "demo" / "data.json"
ROLES = {"chen-jing": "dispatcher", "zhao-lei": "supervisor", "li-wei": "engineer", "zhang-min": "engineer"}


@contextlib.contextmanager
def _office_template(data: Path, backend: str) -> Iterator[Path]:
    data.mkdir()
    url = create_database() if backend == "postgresql" else None
    if url:
        use_database(data, url)
    try:
        db = open_database(database_url(data, url))
        db.migrate()
        load_fixtures(db, DirectoryStore(data / "blobs"), DEMO_DATA)
        db.close()
        yield data
    finally:
        if url:
            drop_database(url)


@pytest.fixture(scope="session")
def office_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerBackend[Path]]:
    """The demo store of each backend, loaded once per session (per worker) when first asked for."""
    templates = PerBackend(
        lambda backend: _office_template(tmp_path_factory.mktemp(f"office-template-{backend}") / "server", backend)
    )
    yield templates
    templates.close()


@pytest.fixture(scope="module")
def office_template(office_templates: PerBackend[Path], backend: str) -> Path:
    return office_templates(backend)


@pytest.fixture
def data_dir(tmp_path: Path, office_template: Path) -> Iterator[Path]:
    target = tmp_path / "server"
    shutil.copytree(office_template, target)
    source = database_of(office_template)
    url = create_database(template=source) if source else None
    if url:
        use_database(target, url)
    yield target
    if url:
        drop_database(url)


@pytest.fixture
def app(data_dir: Path) -> Litestar:
    return create_app(data_dir)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def tokens(app: Litestar) -> dict[str, str]:
    """A device token for each demo user, keyed by user name (plus ``admin``)."""
    return make_tokens(app)


def make_tokens(app: Litestar) -> dict[str, str]:
    state = app.state.fieldsync

    def make(conn: Any) -> dict[str, str]:
        out = {
            name: auth.create_device(conn, auth.find_user(conn, name)["id"], f"{name} test", "test")[1]
            for name in ROLES
        }
        admin = auth.add_user(conn, "admin", "admin", "Administrator")
        out["admin"] = auth.create_device(conn, admin, "admin test", "test")[1]
        return out

    return state.db.write(make)  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(page_html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page_html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def sign_in(client: TestClient[Litestar], token: str, next_path: str = "") -> Any:
    """Sign the test browser in through the real form (CSRF token and all)."""
    page = client.get("/office/login")
    return client.post(
        "/office/login",
        data={"token": token, "next": next_path, "_csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def post_form(
    client: TestClient[Litestar], page_path: str, action: str, data: dict[str, Any], files: Any = None
) -> Any:
    """Submit a form the way a browser does: read the page for its CSRF token, then post."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "_csrf_token": csrf_of(page.text)}, files=files, follow_redirects=False)


@pytest.fixture
def dispatcher(client: TestClient[Litestar], tokens: dict[str, str]) -> TestClient[Litestar]:
    """The test browser, signed in as the dispatcher chen-jing."""
    assert sign_in(client, tokens["chen-jing"]).status_code == 303
    return client


class Laptop:
    """Pushes the way a field client does (JSON), with its own seq counter and clock."""

    def __init__(self, client: TestClient[Litestar], token: str) -> None:
        self.client, self.token, self.seq, self.clock = client, token, 0, Clock()

    def push(self, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
        body = []
        for mutation in mutations:
            self.seq += 1
            body.append({"seq": self.seq, "hlc": self.clock.tick(), **mutation})
        reply = self.client.post("/sync/v1/push", json={"mutations": body}, headers=bearer(self.token))
        assert reply.status_code == 200, reply.text
        return reply.json()["results"]  # type: ignore[no-any-return]

    def patch(self, entity: str, record_id: str, base_version: int, **fields: Any) -> dict[str, Any]:
        return self.push(
            {"op": "patch", "entity": entity, "id": record_id, "base_version": base_version, "fields": fields}
        )[0]

    def event(self, job_id: str, payload: dict[str, Any], at: dt.datetime | None = None) -> dict[str, Any]:
        hlc = self.clock.tick()
        event = {
            "entity": "event",
            "id": uuid7(),
            "job_id": job_id,
            "hlc": hlc,
            "at": (at or dt.datetime.now(dt.timezone.utc)).isoformat(),
            "payload": payload,
        }
        self.seq += 1
        reply = self.client.post(
            "/sync/v1/push",
            json={"mutations": [{"op": "event", "seq": self.seq, "hlc": hlc, "event": event}]},
            headers=bearer(self.token),
        )
        assert reply.status_code == 200, reply.text
        return {**reply.json()["results"][0], "event_id": event["id"]}


@pytest.fixture
def li_wei(client: TestClient[Litestar], tokens: dict[str, str]) -> Laptop:
    return Laptop(client, tokens["li-wei"])


def version_of(app: Litestar, entity: str, record_id: str) -> int:
    state = app.state.fieldsync
    row = state.db.read(
        lambda c: c.execute("SELECT version FROM records WHERE entity=? AND id=?", (entity, record_id)).fetchone()
    )
    return int(row[0])


def record_of(app: Litestar, entity: str, record_id: str) -> dict[str, Any]:
    import json

    state = app.state.fieldsync
    row = state.db.read(
        lambda c: c.execute("SELECT data FROM records WHERE entity=? AND id=?", (entity, record_id)).fetchone()
    )
    return json.loads(row[0])  # type: ignore[no-any-return]
