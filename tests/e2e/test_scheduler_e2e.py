"""`field-server serve` runs the scheduled jobs on the intervals of config.toml and stops them with it."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path
from typing import Any

from server.storage import records as store
from tests.support.databases import open_store
from sync_protocol import Job

from tests.support.live import LiveServer, cli_json, office, wait_until
from tests.support.databases import write_config


def _pull_all(client: Any) -> list[dict[str, Any]]:
    changes, cursor = [], None
    while True:
        page = client.post("/sync/v1/pull", json={"cursor": cursor, "limit": 500}).json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return changes


def test_serve_escalates_an_overdue_job_on_its_interval_and_stops_cleanly(server_data: Path) -> None:
    write_config(server_data, "[scheduler]\nsla_interval_seconds = 0.5\n")
    server = LiveServer(server_data, scheduler=True)
    with server:
        dispatcher = office(server)
        _pull_all(dispatcher)
        # A level-1 fault reported 3 hours ago that nobody took, written while the server runs:
        # only a run after start can catch it.
        reported = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)
        job = Job(
            id="J-E2E-LATE",
            number="SR-LATE",
            customer_id="C-01",
            site_id="S-01",
            severity=1,
            reported_at=reported,
            respond_by=reported + dt.timedelta(minutes=30),
            onsite_by=reported + dt.timedelta(hours=2),
            status="new",
        )
        db = open_store(server_data)
        try:
            db.write(lambda c: store.put(c, job))
        finally:
            db.close()
        assert wait_until(lambda: server.records("job")["J-E2E-LATE"].get("status") == "escalated", 15), (
            server.log.read_text()
        )
        assert server.records("job")["J-E2E-LATE"]["flags"] == ["sla_respond_missed", "sla_onsite_missed"]

        synced = [
            c["record"] for c in _pull_all(dispatcher) if c["op"] == "upsert" and c["record"]["id"] == "J-E2E-LATE"
        ]
        assert [r["status"] for r in synced] == ["escalated"]
        dispatcher.close()

        def runs() -> dict[str, int]:
            with server.db() as conn:
                return {r["job_id"]: r["runs"] for r in conn.execute("SELECT job_id, runs FROM scheduler_runs")}

        assert set(runs()) == {"sla_watch", "maintenance", "housekeeping"}
        assert wait_until(lambda: runs()["sla_watch"] >= 3, 15)  # it keeps running on its interval
        proc = server.proc
    # uvicorn shuts down gracefully on SIGTERM (the lifespan's shutdown hooks run), then re-raises it.
    assert proc is not None and proc.returncode in (0, -signal.SIGTERM)
    log = server.log.read_text()
    assert "scheduler started" in log and "scheduler stopped" in log  # stopped with the server
    assert cli_json("field-server", "audit", "verify", "--data", str(server_data))["ok"] is True


def test_serve_with_no_scheduler_runs_no_jobs(server_data: Path) -> None:
    write_config(server_data, "[scheduler]\nsla_interval_seconds = 0.2\n")
    with LiveServer(server_data) as server:  # the harness passes --no-scheduler
        # The scheduler starts in the app's startup hook, which has run once /healthz answers
        # (LiveServer.start waits for it): no "started" line now means none will run, and no
        # sleep is needed to show an absence.
        assert "scheduler started" not in server.log.read_text()
        with server.db() as conn:
            assert conn.execute("SELECT count(*) FROM scheduler_runs").fetchone()[0] == 0
        assert {j.get("status", "new") for j in server.records("job").values()} <= {"new", "assigned"}


def test_serve_refuses_a_broken_config_naming_the_key(server_data: Path) -> None:
    from tests.support.live import run_cli

    write_config(server_data, "[scheduler]\nsla_every = 5\n")
    proc = run_cli("field-server", "serve", "--data", str(server_data), "--port", "1", check=False, timeout=30)
    assert proc.returncode == 1 and "sla_every" in proc.stderr
