"""An in-process server over a real SQLite file, with a small world of records and devices.

The app runs under litestar's TestClient (real ASGI stack, real store on disk); end-to-end
tests with a uvicorn process and the real field client live in ``tests/e2e``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import msgspec
import pytest
from litestar.testing import TestClient

from server import auth
from server.storage import records as store
from server.app import create_app
from tests.support.databases import use_database
from tests.support.blobstores import BlobBackend
from tests.support.seed import NOW, seed_records
from sync_protocol import (
    JSON,
    MSGPACK,
    AppendEvent,
    Clock,
    Hello,
    HelloReply,
    JobEvent,
    PatchRecord,
    PullPage,
    PullRequest,
    PushReply,
    PushRequest,
    decode,
    encode,
    uuid7,
)


class Device:
    """One enrolled device talking to the in-process server."""

    def __init__(self, client: TestClient, token: str, fmt: str = MSGPACK) -> None:
        self.client, self.token, self.fmt = client, token, fmt
        self.clock = Clock()
        self.seq = 0
        self.cursor: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "content-type": self.fmt}

    def post(self, path: str, message: Any) -> Any:
        return self.client.post(path, content=encode(message, self.fmt), headers=self.headers)

    def hello(self) -> HelloReply:
        response = self.post("/sync/v1/hello", Hello(protocol_version=1))
        assert response.status_code == 200, response.text
        return decode(response.content, HelloReply, self.fmt)

    def event(self, job_id: str, payload: Any) -> AppendEvent:
        """A new event mutation with the next seq (not sent)."""
        self.seq += 1
        hlc = self.clock.tick()
        return AppendEvent(
            seq=self.seq, hlc=hlc, event=JobEvent(id=uuid7(), job_id=job_id, hlc=hlc, at=NOW, payload=payload)
        )

    def patch(self, entity: str, record_id: str, base_version: int, **fields: Any) -> PatchRecord:
        self.seq += 1
        return PatchRecord(
            seq=self.seq, hlc=self.clock.tick(), entity=entity, id=record_id, base_version=base_version, fields=fields
        )

    def push(self, *mutations: Any, keeps_events: bool = False, pull: PullRequest | None = None) -> PushReply:
        response = self.post(
            "/sync/v1/push", PushRequest(mutations=list(mutations), keeps_events=keeps_events, pull=pull)
        )
        assert response.status_code == 200, response.text
        reply = decode(response.content, PushReply, self.fmt)
        self.clock.observe(reply.server_hlc)
        return reply

    def pull_all(self, limit: int = 2000) -> list[Any]:
        """Pull pages until ``more`` is false, acknowledging each; returns every change."""
        changes: list[Any] = []
        while True:
            response = self.post("/sync/v1/pull", PullRequest(cursor=self.cursor, limit=limit))
            assert response.status_code == 200, response.text
            page = decode(response.content, PullPage, self.fmt)
            changes += page.changes
            self.cursor = page.cursor
            if not page.more:
                return changes


class World:
    """The app, its store and a way to enroll devices for users of each role."""

    def __init__(self, data_dir: Path, client: TestClient) -> None:
        self.data_dir = data_dir
        self.client = client
        self.state = client.app.state.fieldsync
        self.db = self.state.db

    def device(self, user_id: str, fmt: str = MSGPACK) -> Device:
        token = self.db.write(lambda c: auth.create_device(c, user_id, "test", "pytest")[1])
        return Device(self.client, token, fmt)

    def record(self, entity: str, record_id: str) -> Any:
        stored = self.db.read(lambda c: store.get(c, entity, record_id))
        return None if stored is None else stored.record

    def set_status(self, job_id: str, status: str) -> None:
        """The office moves a job behind the laptops' backs (cancels it, say), in the store."""

        def change(conn: Any) -> None:
            stored = store.get(conn, "job", job_id)
            store.put(conn, msgspec.structs.replace(stored.record, status=status), stored)

        self.db.write(change)

    def version(self, entity: str, record_id: str) -> int:
        return self.db.read(lambda c: store.get(c, entity, record_id)).version

    def conflicts(self) -> list[Any]:
        rows = self.db.read(
            lambda c: c.execute("SELECT data FROM records WHERE entity='conflict' ORDER BY version").fetchall()
        )
        return [store.decode_record(r[0]) for r in rows]

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Every row that a request could change: to prove a refused request changed nothing."""

        def read(c: Any) -> list[tuple[Any, ...]]:
            out: list[tuple[Any, ...]] = []
            for table in ("records", "applied", "serials", "blobs", "meta", "device_scope", "device_scope_pending"):
                out += sorted((table, *map(repr, tuple(r))) for r in c.execute(f"SELECT * FROM {table}"))
            # A device's last_seen_at moves with every request by design; its sync state must not.
            out += sorted(
                ("devices", *map(repr, tuple(r)))
                for r in c.execute(
                    "SELECT id, high_seq, cursor_n, ack_cursor, ack_seq, pending_cursor, pending_seq, "
                    "revoked_at FROM devices"
                )
            )
            return out

        return self.db.read(read)


@pytest.fixture
def world(tmp_path: Path, fresh_database: str | None, blob_store: BlobBackend) -> Iterator[World]:
    if fresh_database:
        use_database(tmp_path / "server", fresh_database)
    app = create_app(tmp_path / "server", blobs=blob_store.url)
    db = app.state.fieldsync.db

    def setup(conn: Any) -> None:
        auth.add_user(conn, "li-wei", "engineer", "Li Wei", user_id="u-li-wei")
        auth.add_user(conn, "zhang-min", "engineer", "Zhang Min", user_id="u-zhang-min")
        auth.add_user(conn, "chen-jing", "dispatcher", "Chen Jing", user_id="u-chen-jing")
        auth.add_user(conn, "zhao-lei", "supervisor", "Zhao Lei", user_id="u-zhao-lei")
        store.put_many(conn, seed_records())

    db.write(setup)
    with TestClient(app) as client:
        yield World(tmp_path / "server", client)


@pytest.fixture(params=[MSGPACK, JSON], ids=["msgpack", "json"])
def wire(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def to_json(obj: Any) -> bytes:
    return msgspec.json.encode(obj)
