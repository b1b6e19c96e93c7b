"""A laptop killed (SIGKILL) at any instant of a sync loses nothing and applies nothing twice.

Twenty trials against a real server process. Before each, the engineer records more work; then
``field sync`` runs as its own process and is killed: at a random instant, or the moment the
server has committed a push the laptop has not yet settled (the lost-answer window), or the
moment a pulled page or a settled push lands on the laptop. The next trial's sync resumes from
whatever the kill left. At the end one sync completes, and everything must add up exactly.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Callable

import pytest

from field_client import FieldClient
from sync_protocol import Backup, Note, PartSwap

from server.process import Process
from tests.support.live import LiveServer, approve_paid_work, read_only, run_cli, start_cli

TRIALS = 20
FAN = "FAN-80MM"
pytestmark = pytest.mark.slow


def laptop_state(home: Path) -> tuple[int, str | None]:
    """(outbox length, cursor) as committed on the laptop, read while another process writes."""
    with read_only(home / "field.db") as conn:
        pending = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        row = conn.execute("SELECT value FROM meta WHERE key='cursor'").fetchone()
        return pending, row[0] if row else None


def server_high_seq(server: LiveServer, device_id: str) -> int:
    with server.db() as conn:
        return int(conn.execute("SELECT high_seq FROM devices WHERE id=?", (device_id,)).fetchone()[0])


def kill_when(proc: Process, ready: Callable[[], bool], limit: float) -> bool:
    """SIGKILL the process once ``ready()`` holds (or at ``limit``); True if it was still running."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if ready():
                break
        except sqlite3.OperationalError:
            pass  # the file is mid-checkpoint; look again
        time.sleep(0.001)
    running = proc.poll() is None
    proc.kill()
    proc.wait()
    return running


def sync_window(home: Path) -> tuple[float, float]:
    """When, after its start, a ``field sync`` process is syncing (rather than starting Python):
    from the time a local-only command takes to the time a whole sync with work to push takes."""

    def timed(*args: str) -> float:
        start = time.monotonic()
        run_cli("field", "--home", str(home), *args)
        return time.monotonic() - start

    with FieldClient(home) as li:
        for n in range(25):
            li.record_event("J-0001", Note(text=f"calibration note {n}"))
    local, whole = timed("status"), timed("sync", "--page-size", "7")
    return local, max(local + 0.05, whole * 0.95)


def test_twenty_kills_mid_sync_lose_nothing_and_apply_nothing_twice(live_server, tmp_path) -> None:
    rng = random.Random(20261128)
    home = tmp_path / "laptop"
    with FieldClient(home) as li:
        li.login(live_server.url, live_server.enrollment("li-wei"))
        li.sync()
        device = li.status()["device_id"]
        job = li.job("J-0001")
        site_id, equipment = job.site_id, job.equipment_ids[0]
        li.record_event(
            "J-0001", Backup(scope="system", method="image", stored_at="NAS", sha256="c" * 64, verified=True)
        )
        approve_paid_work(li, "J-0001", FAN)
        li.sync()
    fan_before = live_server.records("stock")[f"van:u-li-wei|{FAN}"]["qty"]
    window = sync_window(home)

    recorded: list[str] = []
    swaps = 0
    hits: list[tuple[int, bool]] = []
    command = ("field", "--home", str(home), "sync", "--page-size", "7")
    trial = -1
    while sum(h for _, h in hits) < TRIALS:  # twenty kills that hit a running sync
        trial += 1
        assert trial < TRIALS + 10, f"kills that hit a running sync (mode, hit): {hits}"
        with FieldClient(home) as li:
            for n in range(25):
                recorded.append(li.record_event("J-0001", Note(text=f"trial {trial} note {n}")).id)
            if trial % 3 == 0:
                recorded.append(
                    li.record_event(
                        "J-0001",
                        PartSwap(equipment_id=equipment, sku=FAN, serial_out=f"OLD-{trial}", serial_in=f"NEW-{trial}"),
                    ).id
                )
                swaps += 1
            li.edit("site", site_id, contact_phone=f"+86 21 5555 {trial:04d}")
        high_before = server_high_seq(live_server, device)
        pending_before, cursor_before = laptop_state(home)

        proc = start_cli(*command)
        mode = trial % 4
        if mode == 0:  # a random instant
            hit = kill_when(proc, lambda: False, rng.uniform(*window))
        elif mode == 1:  # the server committed the push; the laptop may not know yet
            hit = kill_when(proc, lambda: server_high_seq(live_server, device) > high_before, 20)
        elif mode == 2:  # the push is settled on the laptop; the pull is under way
            hit = kill_when(proc, lambda: laptop_state(home)[0] < pending_before, 20)
        else:  # at least one pulled page is committed
            hit = kill_when(proc, lambda: laptop_state(home)[1] != cursor_before, 20)
        hits.append((mode, hit))

    print("kills (mode, hit):", hits)

    with FieldClient(home) as li:
        report = li.sync()
        assert report.ok, report.problems
        assert li.pending() == []
        answers = li.answers()
        assert {a["status"] for a in answers} <= {"applied", "merged", "conflict"}
        assert [a["seq"] for a in answers] == list(range(1, len(answers) + 1))
        held = li.store.read(
            lambda c: {(r[0], r[1]): (r[2], r[3]) for r in c.execute("SELECT entity, id, version, data FROM records")}
        )

    # Every recorded event is on the server exactly once, with nothing extra.
    events = {i: e for i, e in live_server.records("event").items() if e["job_id"] == "J-0001"}
    notes_and_swaps = {
        i
        for i, e in events.items()
        if e["payload"]["kind"] in ("note", "part_swap") and not e["payload"].get("text", "").startswith("calibration")
    }
    assert notes_and_swaps == set(recorded)
    assert server_high_seq(live_server, device) == len(answers)
    # Stock moved exactly once per swap; the last edit won.
    assert live_server.records("stock")[f"van:u-li-wei|{FAN}"]["qty"] == fan_before - swaps
    assert live_server.records("site")[site_id]["contact_phone"] == f"+86 21 5555 {trial:04d}"

    # The crashed laptop holds exactly what a fresh laptop of the same engineer pulls.
    with FieldClient(tmp_path / "fresh") as fresh:
        fresh.login(live_server.url, live_server.enrollment("li-wei"))
        fresh.sync()
        reference = fresh.store.read(
            lambda c: {(r[0], r[1]): (r[2], r[3]) for r in c.execute("SELECT entity, id, version, data FROM records")}
        )
    assert held == reference
