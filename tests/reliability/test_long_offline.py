"""Sixty days offline with 5,000 pending events: one sync, no reset, nothing lost.

While the laptop is away the server moves on (the dispatcher re-assigns jobs, another engineer
works) and housekeeping runs as it would over two months: stored push answers past their
retention are cleaned up. The laptop's first sync back must push every pending event exactly
once and continue from its cursor instead of starting over.
"""

from __future__ import annotations

import datetime as dt

import pytest

from field_client import FieldClient, outbox
from sync_protocol import AppendEvent, JobEvent, Note, uuid7

from tests.support.live import cli_json, office

PENDING = 5_000
pytestmark = pytest.mark.slow


def record_many(laptop: FieldClient, job_id: str, count: int, days: int) -> set[str]:
    """The engineer's notes over ``days`` days, written as the client writes them (one outbox
    entry each, fresh seq and clock); one transaction for speed, since recording is not under test."""
    start = dt.datetime.now(dt.timezone.utc)
    ids: set[str] = set()

    def write(conn) -> None:  # type: ignore[no-untyped-def]
        for n in range(count):
            at = start + dt.timedelta(days=days * n / count)
            mutation = outbox.append(
                conn,
                lambda seq, hlc: AppendEvent(
                    seq=seq,
                    hlc=hlc,
                    event=JobEvent(
                        id=uuid7(), job_id=job_id, hlc=hlc, at=at, payload=Note(text=f"day {at:%m-%d} note {n}")
                    ),
                ),
            )
            ids.add(mutation.event.id)  # type: ignore[union-attr]

    laptop.store.write(write)
    return ids


def test_sixty_days_offline_with_five_thousand_pending_events(live_server, laptop) -> None:
    li = laptop("li-wei")
    li.sync()
    li.record_event("J-0001", Note(text="before leaving coverage"))
    li.sync()
    cursor_before = li.store.read(lambda c: c.execute("SELECT value FROM meta WHERE key='cursor'").fetchone()[0])

    recorded = record_many(li, "J-0001", PENDING, days=60)
    zhang = laptop("zhang-min")
    zhang.sync()
    zhang.record_event("J-0004", Note(text="meanwhile, elsewhere"))
    zhang.sync()
    with office(live_server) as dispatcher:
        assert dispatcher.post("/api/v1/jobs/J-0011/assign", json={"assignee": "li-wei"}).status_code == 200
        assert dispatcher.post("/api/v1/jobs/J-0003/assign", json={"assignee": "wang-fang"}).status_code == 200
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=61)).isoformat()
    cleaned = cli_json(
        "field-server", "job", "run", "housekeeping", "--data", str(live_server.data_dir), "--now", later
    )
    with live_server.db() as conn:
        assert conn.execute("SELECT count(*) FROM applied").fetchone()[0] == 0, cleaned

    report = li.sync()

    assert report.ok and not report.reset and report.pushed == PENDING and report.rejected == 0
    assert li.pending() == []
    on_server = {i for i, e in live_server.records("event").items() if e["job_id"] == "J-0001"}
    assert recorded <= on_server and len(on_server) == PENDING + 1
    jobs = {j.id for j in li.jobs()}
    assert "J-0011" in jobs and "J-0003" not in jobs and cursor_before is not None
