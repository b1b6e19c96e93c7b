"""Devices that speak the wire protocol the way a modified client would: any stamp, any field,
any seq. Used by the security suite against the shared server (see ``conftest.py``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from sync_protocol import Clock, uuid7
from tests.support.live import LiveServer
from tests.support.databases import copied_store, query, write_config

USERS = {
    "li-wei": "engineer",
    "zhang-min": "engineer",
    "wang-fang": "engineer",
    "chen-jing": "dispatcher",
    "zhao-lei": "supervisor",
}


@contextlib.contextmanager
def own_server(
    server_template: tuple[Path, dict[str, list[str]]],
    root: Path,
    config: str = "",
    prepare: Callable[[Path], None] | None = None,
) -> Iterator[LiveServer]:
    """A server on a copy of the demo store, with this ``config.toml`` (and ``prepare`` done to its
    data directory before it starts): for what must not happen to the shared store (a limit
    reached from 127.0.0.1, housekeeping at a later date, a store of an older server)."""
    template, tokens = server_template
    with copied_store(template, root / "server") as data:
        yield from _serve(data, template, tokens, root, config, prepare)


def _serve(
    data: Path,
    template: Path,
    tokens: dict[str, list[str]],
    root: Path,
    config: str,
    prepare: Callable[[Path], None] | None,
) -> Iterator[LiveServer]:
    if prepare is not None:
        prepare(data)
    if config:
        write_config(data, config)
    (root / "tokens.json").write_text(json.dumps(tokens))
    (root / "admin_token").write_text((template.parent / "admin_token").read_text())
    server = LiveServer(data)
    server.admin_token = (root / "admin_token").read_text()  # type: ignore[attr-defined]
    with server:
        yield server


def iso_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


class Device:
    """One enrolled device, JSON on the wire, its own seq counter and clock."""

    def __init__(self, server: LiveServer, name: str, role: str | None = None, token: str | None = None) -> None:
        self.server = server
        if token is None:
            enrollment = server.enrollment(name, role or USERS[name])
            reply = httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": enrollment}, timeout=20)
            reply.raise_for_status()
            token = reply.json()["device_token"]
        self.token = token
        self.http = httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})
        hello = self.http.post("/sync/v1/hello", json={"protocol_version": 1}).json()
        self.user_id, self.device_id, self.role = hello["user_id"], hello["device_id"], hello["role"]
        self.seq = hello["high_seq"]
        self.clock = Clock()

    def close(self) -> None:
        self.http.close()

    # --- mutations (not sent) ------------------------------------------------------------

    def event(
        self,
        job_id: str,
        payload: dict[str, Any],
        *,
        hlc: str | None = None,
        at: str | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        stamp = hlc or self.clock.tick()
        return {
            "op": "event",
            "hlc": stamp,
            "event": {
                "entity": "event",
                "id": event_id or uuid7(),
                "job_id": job_id,
                "hlc": stamp,
                "at": at or iso_now(),
                "payload": payload,
            },
        }

    def patch(
        self, entity: str, record_id: str, base_version: int, *, hlc: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        return {
            "op": "patch",
            "hlc": hlc or self.clock.tick(),
            "entity": entity,
            "id": record_id,
            "base_version": base_version,
            "fields": fields,
        }

    # --- the wire --------------------------------------------------------------------------

    def push(self, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
        """Send mutations with the next seqs; returns their answers."""
        body = []
        for mutation in mutations:
            self.seq += 1
            body.append({"seq": self.seq, **mutation})
        reply = self.http.post("/sync/v1/push", json={"mutations": body})
        assert reply.status_code == 200, reply.text
        return reply.json()["results"]  # type: ignore[no-any-return]

    def pull_all(self) -> list[dict[str, Any]]:
        cursor, changes = None, []
        while True:
            page = self.http.post("/sync/v1/pull", json={"cursor": cursor}).json()
            changes += page["changes"]
            cursor = page["cursor"]
            if not page["more"]:
                return changes


class Attack:
    """The shared server with a device for each demo user and an office client."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.devices: dict[str, Device] = {}
        self.admin = Device(server, "admin", token=server.admin_token)  # type: ignore[attr-defined]

    def __enter__(self) -> "Attack":
        return self

    def __exit__(self, *exc: object) -> None:
        for device in [*self.devices.values(), self.admin]:
            device.close()

    def device(self, name: str) -> Device:
        """The demo user's device (enrolled once per session)."""
        if name not in self.devices:
            self.devices[name] = Device(self.server, name)
        return self.devices[name]

    @property
    def office(self) -> httpx.Client:
        """The dispatcher's bearer client, for ``/api/v1``."""
        return self.device("chen-jing").http

    def new_job(
        self,
        assignee: str | None = "li-wei",
        site: str = "S-01",
        equipment: list[str] | None = None,
        fault: str = "a job of its own for one test",
    ) -> str:
        """A fresh job taken in by the dispatcher (and assigned), so a test owns its state."""
        record = self.record("site", site)
        body: dict[str, Any] = {
            "customer_id": record["customer_id"],
            "site_id": site,
            "fault": fault,
            "severity": 3,
            "equipment_ids": equipment or [],
        }
        if assignee:
            body["assignee"] = assignee
        reply = self.office.post("/api/v1/jobs", json=body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    # --- reading the store (read-only, for assertions) -----------------------------------

    def record(self, entity: str, record_id: str) -> dict[str, Any]:
        import json

        rows = query(self.server.data_dir, "SELECT data FROM records WHERE entity=? AND id=?", entity, record_id)
        assert rows, f"no {entity} {record_id}"
        return json.loads(rows[0][0])  # type: ignore[no-any-return]

    def version(self, entity: str, record_id: str) -> int:
        rows = query(self.server.data_dir, "SELECT version FROM records WHERE entity=? AND id=?", entity, record_id)
        return int(rows[0][0])

    def has(self, entity: str, record_id: str) -> bool:
        return bool(query(self.server.data_dir, "SELECT 1 FROM records WHERE entity=? AND id=?", entity, record_id))


def csrf_of(page_html: str) -> str:
    import re

    match = re.search(r'name="_csrf_token" value="([^"]+)"', page_html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def signed_in(server: LiveServer, name: str = "chen-jing", role: str | None = None) -> httpx.Client:
    """A browser-like client signed in to the office pages (session cookie, CSRF token)."""
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    page = client.get("/office/login")
    reply = client.post(
        "/office/login", data={"token": server.enrollment(name, role or USERS[name]), "_csrf_token": csrf_of(page.text)}
    )
    assert reply.status_code == 200 and 'id="device-token"' in reply.text, reply.text[:500]
    return client


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Submit a form the way a browser does: the page's CSRF token, then the post."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text[:500]
    return client.post(action, data={**data, "_csrf_token": csrf_of(shown.text)})
