"""Issue 9, hole 8: disk has limits. Unfinished uploads are bounded per device and expire; files
nothing names are collected after a grace period, never under a laptop that may still name them.

Partial uploads could be started under any number of names, each declaring up to 2 GiB, and were
never cleaned; complete files nothing referenced stayed forever. These tests run housekeeping at
a later ``--now``, so they have a server of their own (the shared store's stored push answers and
tombstones must not age under other tests).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from sync_protocol import Photo
from tests.support.blobstores import STORES, BlobBackend
from tests.support.live import LiveServer, run_cli

from .attackers import Device, own_server

QUOTA = 1024 * 1024
CONFIG = f"""
[security]
upload_quota_bytes = {QUOTA}
[housekeeping]
partial_upload_retention_days = 7
unreferenced_blob_grace_days = 30
"""


@pytest.fixture(scope="module", params=STORES)
def disk(
    request: pytest.FixtureRequest,
    server_template: tuple[Path, dict[str, list[str]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """A server of its own, its blobs in its directory or (chosen by ``[blobs]`` of its
    config.toml, so that ``job run housekeeping`` finds them too) in an S3 bucket."""
    store = BlobBackend(request.param, request.getfixturevalue("s3_endpoint") if request.param == "s3" else None)
    try:
        with own_server(
            server_template, tmp_path_factory.mktemp("disk"), CONFIG + store.config(), prepare=store.seed
        ) as server:
            server.blob_store = store  # type: ignore[attr-defined]
            yield server
    finally:
        store.close()


def put(device: Device, sha: str, offset: int, size: int, chunk: bytes) -> httpx.Response:
    return device.http.put(
        f"/sync/v1/blobs/{sha}",
        params={"offset": offset, "size": size},
        content=chunk,
        headers={"Accept": "application/json"},
    )


def status(device: Device, sha: str) -> dict:
    return device.http.get(f"/sync/v1/blobs/{sha}/status").json()  # type: ignore[no-any-return]


def housekeeping(server: LiveServer, days: int) -> dict:
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).isoformat()
    out = run_cli("field-server", "job", "run", "housekeeping", "--data", str(server.data_dir), "--now", at, "--json")
    return json.loads(out.stdout)["result"]  # type: ignore[no-any-return]


def test_bytes_in_flight_are_bounded_per_device(disk: LiveServer) -> None:
    li, zhang = Device(disk, "li-wei"), Device(disk, "zhang-min")
    big, bigger = os.urandom(600 * 1024), os.urandom(600 * 1024)
    sha, other = hashlib.sha256(big).hexdigest(), hashlib.sha256(bigger).hexdigest()
    assert put(li, sha, 0, len(big), big[:1024]).status_code == 200
    refused = put(li, other, 0, len(bigger), bigger[:1024])
    assert (refused.status_code, refused.json()["field"]) == (413, "size")
    assert refused.json()["detail"]["quota"] == QUOTA
    changed = put(li, sha, 1024, 2 * 1024**3, big[1024:2048])  # the size an upload began with holds
    assert (changed.status_code, changed.json()["field"]) == (422, "size")
    assert put(zhang, other, 0, len(bigger), bigger[:1024]).status_code == 200  # his own quota
    assert put(li, sha, 1024, len(big), big[1024:]).json()["complete"]  # done: quota freed
    assert put(li, hashlib.sha256(b"y" * 700_000).hexdigest(), 0, 700_000, b"y").status_code == 200
    li.close()
    zhang.close()


def test_unfinished_uploads_expire_in_housekeeping(disk: LiveServer) -> None:
    wang = Device(disk, "wang-fang")
    data = os.urandom(900 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    assert put(wang, sha, 0, len(data), data[:4096]).status_code == 200
    assert status(wang, sha)["offset"] == 4096
    assert housekeeping(disk, days=6)["uploads_expired"] == 0
    assert housekeeping(disk, days=8)["uploads_expired"] >= 1
    assert status(wang, sha).get("offset", 0) == 0
    assert not disk.blob_store.partial_names(disk.data_dir, sha)  # type: ignore[attr-defined]
    assert put(wang, sha, 0, len(data), data[:4096]).status_code == 200  # its quota is free again
    wang.close()


@pytest.fixture
def li(disk: LiveServer, tmp_path: Path) -> Iterator[object]:
    """Li Wei's laptop, enrolled on this server."""
    from field_client import FieldClient

    with FieldClient(tmp_path / "li", retries=2, backoff=0.01, timeout=20) as client:
        client.login(disk.url, disk.enrollment("li-wei"))
        yield client


def test_files_nothing_names_are_collected_but_never_under_pending_work(disk: LiveServer, li) -> None:
    from field_client import sync as sync_steps
    from field_client.report import SyncReport

    li.sync()
    job = li.jobs()[0].id
    named_sha = li.add_blob(os.urandom(2048), "image/jpeg")  # a photo, synced: named by its event
    li.record_event(job, Photo(sha256=named_sha))
    li.sync()
    pending_sha = li.add_blob(os.urandom(2048), "image/jpeg")  # uploaded, its event still pending
    li.record_event(job, Photo(sha256=pending_sha))
    transport = li.transport()
    try:
        sync_steps.upload_blobs(li.store, li.blobs, transport, SyncReport())
    finally:
        transport.close()
    stray = Device(disk, "zhang-min")  # a file nobody ever names
    junk = os.urandom(1024)
    junk_sha = hashlib.sha256(junk).hexdigest()
    put(stray, junk_sha, 0, len(junk), junk)
    stray.http.post("/sync/v1/push", json={"mutations": []})  # its device was seen since

    housekeeping(disk, days=31)
    assert status(stray, junk_sha).get("complete", False) is False  # collected
    assert status(stray, named_sha)["complete"]  # named by a record: kept
    assert status(stray, pending_sha)["complete"]  # its device has not pushed since: kept

    # Seen since (a push of nothing), and a month untouched: even the pending one is collected now...
    token = li.store.read(lambda c: c.execute("SELECT value FROM meta WHERE key='device_token'").fetchone()[0])
    httpx.post(f"{disk.url}/sync/v1/push", json={"mutations": []}, headers={"Authorization": f"Bearer {token}"})
    housekeeping(disk, days=62)
    assert status(stray, pending_sha).get("complete", False) is False
    report = li.sync()  # ...and the laptop sends it again
    assert report.ok and report.rejected == 0, report.problems
    assert status(stray, pending_sha)["complete"]
    assert disk.blob_store.exists(disk.data_dir, pending_sha)  # type: ignore[attr-defined]
    run_cli("field-server", "audit", "verify", "--data", str(disk.data_dir))
