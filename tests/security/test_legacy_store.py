"""A store written before every list, map and text was bounded is brought within the bounds when
the server upgrades it, and a record that still breaks them is shown cut, never a failed page.

(Issue 9: ``equipment.parameters`` took 60,000 entries before the bounds; such a record must not
break the pages, the pulls or the laptops of whoever upgrades.)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import httpx

from field_client import FieldClient
from tests.support.live import cli_json, read_only

from .attackers import csrf_of, own_server


def _plant_oversized(data: Path) -> None:
    """What an older server accepted: equipment EQ-001 with 60,000 parameters, schema 7."""
    conn = sqlite3.connect(data / "fieldsync.db")
    try:
        record = json.loads(
            conn.execute("SELECT data FROM records WHERE entity='equipment' AND id='EQ-001'").fetchone()[0]
        )
        record["parameters"] = {f"p{i}": "x" for i in range(60_000)}
        version = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0]) + 1
        with conn:
            conn.execute("UPDATE meta SET value=? WHERE key='version'", (str(version),))
            conn.execute(
                "UPDATE records SET data=?, version=? WHERE entity='equipment' AND id='EQ-001'",
                (json.dumps(record), version),
            )
            conn.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
    finally:
        conn.close()


@pytest.mark.backends("sqlite")
def test_an_upgraded_store_is_cut_to_its_bounds_and_every_view_works(server_template, tmp_path: Path) -> None:
    """SQLite only: a store of an older server (schema 7, before the bounds) is a SQLite file
    planted here with sqlite3; PostgreSQL stores start at the current schema, so no such store
    exists there to upgrade."""
    with own_server(server_template, tmp_path, prepare=_plant_oversized) as server:
        data = server.data_dir
        with read_only(data / "fieldsync.db") as conn:
            stored = json.loads(
                conn.execute("SELECT data FROM records WHERE entity='equipment' AND id='EQ-001'").fetchone()[0]
            )
            audited = conn.execute("SELECT ref FROM audit_log WHERE kind='migration.within_bounds'").fetchall()
        assert len(stored["parameters"]) == 100 and audited and "parameters" in audited[0][0]
        browser = httpx.Client(base_url=server.url)
        page = browser.get("/office/login")
        browser.post(
            "/office/login",
            data={
                "token": server.admin_token,  # type: ignore[attr-defined]
                "_csrf_token": csrf_of(page.text),
            },
        )
        for path in ("/office/data/equipment/EQ-001", "/office/jobs/J-0001", "/office/data/equipment"):
            assert browser.get(path).status_code == 200, path
        browser.close()
        with FieldClient(tmp_path / "li", retries=2, backoff=0.01, timeout=20) as li:
            li.login(server.url, server.enrollment("li-wei"))
            assert li.sync().ok
            assert len(li.record("equipment", "EQ-001").parameters) == 100  # type: ignore[attr-defined]
        assert cli_json("field-server", "audit", "verify", "--data", str(data))["ok"]
