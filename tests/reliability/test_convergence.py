"""Convergence: laptops and a dispatcher editing, going offline and syncing in any order.

A hypothesis state machine drives three laptops (two of Li Wei's, one of Zhang Min's) and a
dispatcher against one in-process server, through the real field client, on each backend: a real
SQLite file, and a PostgreSQL database of its own per example.
Whatever the interleaving, at quiescence every laptop holds exactly what a fresh laptop of the
same person would pull, and every event recorded anywhere is on the server exactly once.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from litestar.testing import TestClient

from field_client import FieldClient
from server import auth
from server.storage import records as store
from server.app import create_app
from sync_protocol import Note
from tests.support.databases import create_database, drop_database
from tests.support.seed import seed_records

URL = "http://testserver.local"
PEOPLE = {"A": "u-li-wei", "B": "u-li-wei", "C": "u-zhang-min", "D": "u-chen-jing"}
VALUES = st.sampled_from(["+86 21 5555 0001", "+86 21 5555 0002", "badge at gate 2", "门卫处登记"])
_homes = itertools.count()


class InProcess(httpx.BaseTransport):
    """litestar's test transport as an httpx transport the field client can own and close."""

    def __init__(self, client: TestClient) -> None:
        self._inner = client._transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)  # type: ignore[no-any-return]


def enroll(client: TestClient, state: Any, root: Path, user_id: str) -> FieldClient:
    token = state.db.write(lambda c: auth.create_enrollment(c, user_id))
    laptop = FieldClient(root / f"home-{next(_homes)}", http=InProcess(client), retries=0)
    laptop.login(URL, token)
    return laptop


def held(laptop: FieldClient) -> dict[tuple[str, str], tuple[int, str]]:
    return laptop.store.read(
        lambda c: {(r[0], r[1]): (r[2], r[3]) for r in c.execute("SELECT entity, id, version, data FROM records")}
    )


class FieldAndOffice(RuleBasedStateMachine):
    backend = "sqlite"  # the store of the server: a subclass per backend (``test_...converge``)

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="converge-"))
        self.database = create_database() if self.backend == "postgresql" else None
        app = create_app(self.root / "server", database=self.database)
        self.state = app.state.fieldsync
        assert self.state.db.dialect == self.backend

        def setup(conn: Any) -> None:
            for name, role, uid in (
                ("li-wei", "engineer", "u-li-wei"),
                ("zhang-min", "engineer", "u-zhang-min"),
                ("chen-jing", "dispatcher", "u-chen-jing"),
            ):
                auth.add_user(conn, name, role, name, user_id=uid)
            store.put_many(conn, seed_records())

        self.state.db.write(setup)
        self.http = TestClient(app)
        self.http.__enter__()
        self.devices = {name: enroll(self.http, self.state, self.root, uid) for name, uid in PEOPLE.items()}
        self.office_token = self.devices["D"].store.read(
            lambda c: c.execute("SELECT value FROM meta WHERE key='device_token'").fetchone()[0]
        )
        self.recorded: set[str] = set()
        for laptop in self.devices.values():
            laptop.sync()

    @rule(who=st.sampled_from("ABC"), data=st.data())
    def record_note(self, who: str, data: st.DataObject) -> None:
        jobs = self.devices[who].jobs()
        if jobs:
            job = data.draw(st.sampled_from(sorted(j.id for j in jobs)))
            self.recorded.add(self.devices[who].record_event(job, Note(text=f"{who} on {job}")).id)

    @rule(
        who=st.sampled_from("ABCD"),
        field=st.sampled_from(["contact_phone", "access_notes"]),
        value=VALUES,
        data=st.data(),
    )
    def edit_site(self, who: str, field: str, value: str, data: st.DataObject) -> None:
        sites = sorted(s.id for s in self.devices[who].records("site"))
        if sites:
            self.devices[who].edit("site", data.draw(st.sampled_from(sites)), **{field: value})

    @rule(site=st.sampled_from(["S-01", "S-02"]), value=st.sampled_from(["Depot", "仓库", "Dock 4"]))
    def office_renames_a_site(self, site: str, value: str) -> None:
        self.devices["D"].edit("site", site, name=value)

    @rule(job=st.sampled_from(["J-1", "J-2", "J-3"]), to=st.sampled_from(["li-wei", "zhang-min"]))
    def dispatcher_assigns(self, job: str, to: str) -> None:
        answer = self.http.post(
            f"/api/v1/jobs/{job}/assign",
            json={"assignee": to},
            headers={"Authorization": f"Bearer {self.office_token}"},
        )
        assert answer.status_code == 200, answer.text

    @rule(who=st.sampled_from("ABCD"))
    def sync(self, who: str) -> None:
        report = self.devices[who].sync(page_size=3)  # small pages: many cursors in play
        assert report.rejected == 0, report.problems

    def teardown(self) -> None:
        try:
            self.quiesce_and_check()
        finally:
            for laptop in self.devices.values():
                laptop.close()
            self.http.__exit__(None, None, None)
            shutil.rmtree(self.root, ignore_errors=True)
            if self.database:
                drop_database(self.database)

    def quiesce_and_check(self) -> None:
        for _ in range(2):  # a second round carries what the first round's pushes changed
            for laptop in self.devices.values():
                report = laptop.sync()
                assert report.rejected == 0, report.problems
        for name, laptop in self.devices.items():
            assert laptop.pending() == []
            fresh = enroll(self.http, self.state, self.root, PEOPLE[name])
            fresh.sync()
            assert held(laptop) == held(fresh), f"laptop {name} differs from a fresh pull"
            fresh.close()
        events = self.state.db.read(
            lambda c: [r[0] for r in c.execute("SELECT id FROM records WHERE entity='event' AND deleted=0")]
        )
        assert len(events) == len(set(events)) and self.recorded <= set(events)
        assert len([e for e in events if e in self.recorded]) == len(self.recorded)


def test_laptops_and_the_office_converge_in_any_order(backend: str) -> None:
    machine = type(f"FieldAndOffice_{backend}", (FieldAndOffice,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=10, stateful_step_count=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
