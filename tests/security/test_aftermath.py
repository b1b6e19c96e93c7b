"""After every attack of the security suite on one store (``conftest.py``): the store is whole.

Issue 9's acceptance: the audit chain verifies end to end, SQLite finds no corruption, and no
office page or API answer fails on the store the attacks left behind; neither does any laptop
view of it. These run last (``pytest_collection_modifyitems`` in ``conftest.py``), whatever was
selected before them.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from server.app import create_app
from tests.support.databases import query
from tests.support.live import cli_json, read_only, run_cli

from .attackers import Attack, csrf_of

pytestmark = pytest.mark.aftermath


def _get_routes(prefix: str) -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(Path(scratch) / "server")
        paths = sorted({route.path for route in app.routes if "GET" in route.methods and route.path.startswith(prefix)})
        app.state.fieldsync.close()
    return paths


def _ids(attack: Attack) -> dict[str, list[str]]:
    data = attack.server.data_dir
    records = {
        entity: [r[0] for r in query(data, "SELECT id FROM records WHERE entity=? AND deleted=0 ORDER BY id", entity)]
        for entity in ("job", "customer", "site", "equipment", "drawing", "part", "stock", "conflict")
    }
    records["sha256"] = [r[0] for r in query(data, "SELECT sha256 FROM blobs ORDER BY sha256")]
    return records


COLLECTIONS = {
    "customers": "customer",
    "sites": "site",
    "equipment": "equipment",
    "drawings": "drawing",
    "parts": "part",
    "stock": "stock",
}


def _concrete(path: str, ids: dict[str, list[str]]) -> Iterator[str]:
    """Every page a route names on this store: each job, each record of each collection, each file."""
    from urllib.parse import quote

    names = re.findall(r"\{(\w+)(?::\w+)?\}", path)
    if not names:
        yield path
        return
    if names == ["job_id"]:
        values = [{"job_id": j} for j in ids["job"]]
    elif names == ["collection"]:
        values = [{"collection": c} for c in COLLECTIONS]
    elif names == ["collection", "record_id"]:
        values = [{"collection": c, "record_id": r} for c, e in COLLECTIONS.items() for r in ids[e]]
    elif names == ["record_id"]:
        entity = COLLECTIONS[path.split("/")[3]]
        values = [{"record_id": r} for r in ids[entity]]
    elif names == ["sha256"]:
        values = [{"sha256": s} for s in ids["sha256"]]
    elif names == ["file_path"]:
        values = [{"file_path": "office.css"}, {"file_path": "office.js"}]
    else:
        values = []
    for value in values:
        yield re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: quote(value[m.group(1)], safe=""), path)


def test_the_audit_chain_verifies(attack: Attack) -> None:
    report = cli_json("field-server", "audit", "verify", "--data", str(attack.server.data_dir))
    assert report["ok"] and report["rows"] > 0, report


@pytest.mark.backends("sqlite")
def test_sqlite_finds_no_corruption(attack: Attack) -> None:
    """SQLite only: ``PRAGMA integrity_check`` and ``foreign_key_check`` are SQLite's own checks
    of its file; PostgreSQL's integrity is its business, and the audit chain (above) is ours on both."""
    with read_only(attack.server.data_dir / "fieldsync.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_no_office_page_or_api_answer_fails_on_the_attacked_store(attack: Attack) -> None:
    ids = _ids(attack)
    admin = httpx.Client(base_url=attack.server.url, timeout=60, follow_redirects=False)
    try:
        page = admin.get("/office/login")
        signed = admin.post(
            "/office/login",
            data={
                "token": attack.server.admin_token,  # type: ignore[attr-defined]
                "_csrf_token": csrf_of(page.text),
            },
        )
        assert signed.status_code == 303
        extra = [
            "/office/board?all=true",
            "/office/conflicts?status=all",
            "/office/conflicts?status=resolved",
            "/office/audit?from=2000-01-01&to=2099-12-31",
            "/office/audit/backups.csv",
        ]
        pages = [p for route in _get_routes("/office") for p in _concrete(route, ids)] + extra
        failed = {p: r.status_code for p in pages if (r := admin.get(p)).status_code >= 500}
        assert not failed, failed
        assert len(pages) > 100
        bearer = {"Authorization": f"Bearer {attack.server.admin_token}"}  # type: ignore[attr-defined]
        apis = [p for route in _get_routes("/api/v1") for p in _concrete(route, ids)] + [
            "/api/v1/conflicts?status=all",
            "/api/v1/audit/backups.csv",
        ]
        failed = {p: r.status_code for p in apis if (r := admin.get(p, headers=bearer)).status_code >= 500}
        assert not failed, failed
        for path in (
            "/office/board",
            "/office/conflicts?status=all",
            "/office/audit",
            "/api/v1/jobs",
            "/api/v1/audit/backups",
        ):
            assert admin.get(path, headers=bearer if path.startswith("/api") else {}).status_code == 200, path
    finally:
        admin.close()


@pytest.mark.parametrize("engineer", ["li-wei", "zhang-min", "wang-fang"])
def test_every_laptop_view_of_the_attacked_store_works(attack: Attack, tmp_path: Path, engineer: str) -> None:
    """Through the ``field`` command, as the engineer uses it: sync, the job list, every job's
    sheet, the conflicts, the van."""
    home = ["--home", str(tmp_path / engineer)]
    run_cli("field", *home, "login", attack.server.url, "--token", attack.server.enrollment(engineer, "engineer"))
    synced = run_cli("field", *home, "sync", check=False)  # 1 when something waits for a person
    assert synced.returncode in (0, 1) and "Traceback" not in synced.stderr, synced.stderr
    jobs = json.loads(run_cli("field", *home, "jobs", "--json").stdout)
    assert jobs
    for job in jobs:
        shown = run_cli("field", *home, "job", job["id"])
        assert "Traceback" not in shown.stderr
    for command in (["conflicts"], ["van"], ["status"], ["jobs"]):
        assert "Traceback" not in run_cli("field", *home, *command, check=False).stderr
