"""A 10,000-change pull killed half way resumes where it stopped instead of starting over."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from field_client import FieldClient

from tests.support.live import cli_json, read_only, run_cli, start_cli

pytestmark = pytest.mark.slow
BULK = 10_000


def bulk_equipment(path: Path, site_id: str) -> Path:
    """A fixture file adding 10,000 cameras to one of li-wei's sites."""
    records = [
        {
            "entity": "equipment",
            "id": f"CAM-{n:05d}",
            "site_id": site_id,
            "category": "camera",
            "manufacturer": "Hikvision",
            "model": "DS-2CD2143G2-I",
            "serial": f"HK{n:08d}",
            "location": f"pole {n // 4}, position {n % 4}",
            "subsystem": "CCTV",
        }
        for n in range(BULK)
    ]
    path.write_text(json.dumps({"format": "fieldsync-fixtures/1", "records": records}))
    return path


def held(home: Path) -> int:
    try:
        with read_only(home / "field.db") as conn:
            return int(conn.execute("SELECT count(*) FROM records WHERE entity='equipment'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_a_killed_ten_thousand_change_pull_resumes_and_completes(live_server, tmp_path) -> None:
    home = tmp_path / "laptop"
    with FieldClient(home) as li:
        li.login(live_server.url, live_server.enrollment("li-wei"))
    run_cli(
        "field-server",
        "load-fixtures",
        "--data",
        str(live_server.data_dir),
        str(bulk_equipment(tmp_path / "bulk.json", "S-01")),
    )

    proc = start_cli("field", "--home", str(home), "--json", "sync", "--page-size", "500")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and held(home) < BULK // 3:
        time.sleep(0.005)
    assert proc.poll() is None, "the pull finished before it could be interrupted"
    proc.kill()
    proc.wait()
    before = held(home)
    assert 0 < before < BULK

    report = cli_json("field", "--home", str(home), "sync", "--page-size", "500")

    assert report["ok"] and report["reset"] is False
    # The rest, plus at most the page in flight and the ~100 other records of the scope: not all.
    assert report["pulled"] <= (BULK - before) + 500 + 150 < BULK
    with FieldClient(home) as li:
        equipment = li.records("equipment")
    at_site = [e for e in equipment if e.site_id == "S-01"]
    assert len({e.id for e in at_site if e.id.startswith("CAM-")}) == BULK
    with live_server.db() as conn:
        scope_equipment = conn.execute(
            "SELECT count(*) FROM records WHERE entity='equipment' AND deleted=0 AND parent IN "
            "(SELECT parent FROM records WHERE entity='job' AND assignee='u-li-wei' AND status IN "
            "('assigned','on_site','resolved','escalated'))"
        ).fetchone()[0]
    assert len(equipment) == scope_equipment
