"""``field-server migrate``: a deployment moves to the other backend and its laptops do not notice.

A demo deployment with two enrolled laptops, one of them holding work it has not pushed yet,
is stopped, copied with ``field-server migrate --from ... --to ...`` (SQLite to PostgreSQL on the
``sqlite`` run, PostgreSQL back to SQLite on the ``postgresql`` run) and served again from the
copy at the same address. Then the laptops sync without re-enrolling: the one with nothing to
push pulls nothing (its cursor means the same on the copy), the other's pending work is applied
once under the next ``seq``, a new laptop downloads the drawings (blob metadata moved, bytes in
place), ``audit verify`` passes on the copy, and a second copy into the filled target is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from field_client import FieldClient
from sync_protocol import Note

from tests.support.blobstores import BlobBackend
from tests.support.databases import create_database, database_of, drop_database, query, use_database
from tests.support.live import LiveServer, cli_json, run_cli


@pytest.fixture
def other_backend(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty store on the backend the deployment is not on (a new PostgreSQL database, or a
    SQLite file that does not exist yet)."""
    if backend == "postgresql":
        yield f"sqlite:///{tmp_path / 'moved' / 'fieldsync.db'}"
        return
    url = create_database()
    yield url
    drop_database(url)


def test_a_deployment_moves_to_the_other_backend_and_its_laptops_keep_syncing(
    live_server: LiveServer, other_backend: str, tmp_path: Path
) -> None:
    data = live_server.data_dir
    source = database_of(data) or f"sqlite:///{data / 'fieldsync.db'}"
    with FieldClient(tmp_path / "li-wei", retries=3, backoff=0.01) as li:
        li.login(live_server.url, live_server.enrollment("li-wei"))
        li.sync()
        li.record_event("J-0001", Note(text="pushed before the move"))
        assert li.sync().applied == 1
        li.record_event("J-0001", Note(text="recorded before the move, pushed after it"))
        li.edit("site", "S-01", access_notes="gate code changed")
        li_device = str(li.status()["device_id"])
    with FieldClient(tmp_path / "zhang-min", retries=3, backoff=0.01) as zhang:
        zhang.login(live_server.url, live_server.enrollment("zhang-min"))
        first = zhang.sync()
        assert first.pulled > 50 and first.blobs_downloaded > 0
    before = {table: n for table, n in (("records", "records"), ("audit_log", "audit_log"))}
    counts = {t: query(data, f"SELECT count(*) FROM {t}")[0][0] for t in before}

    live_server.stop()  # the cut-over: stop the servers, copy, start them on the new database
    report = cli_json("field-server", "migrate", "--from", source, "--to", other_backend, "--data", str(data))
    assert report["tables"]["records"] == counts["records"] and report["tables"]["audit_log"] == counts["audit_log"]
    assert report["tables"]["devices"] >= 3 and report["tables"]["applied"] >= 1, report
    use_database(data, other_backend)
    assert query(data, "SELECT count(*) FROM records")[0][0] == counts["records"]
    live_server.start()  # same address: the laptops are not told anything

    with FieldClient(tmp_path / "zhang-min", retries=3, backoff=0.01) as zhang:
        quiet = zhang.sync()
        assert quiet.ok and not quiet.reset and quiet.pulled == 0 and quiet.blobs_downloaded == 0, quiet
    with FieldClient(tmp_path / "li-wei", retries=3, backoff=0.01) as li:
        moved = li.sync()
        assert moved.ok and not moved.reset and moved.pushed == 2 and moved.rejected == 0, moved
        assert moved.pulled <= 2 + 1  # its own two changes (and the job they touched), nothing re-sent
        assert [a["seq"] for a in li.answers()] == [1, 2, 3] and li.pending() == []
    assert query(data, "SELECT high_seq FROM devices WHERE id=?", li_device) == [(3,)]
    with FieldClient(tmp_path / "wang-fang", retries=3, backoff=0.01) as new:
        new.login(live_server.url, live_server.enrollment("wang-fang"))
        fresh = new.sync()
        assert fresh.ok and fresh.blobs_downloaded > 0  # the drawings' bytes are where they were

    chain = cli_json("field-server", "audit", "verify", "--data", str(data))
    assert chain["ok"] is True and chain["rows"] > counts["audit_log"], chain
    again = run_cli(
        "field-server", "migrate", "--from", source, "--to", other_backend, "--data", str(data), check=False
    )
    assert again.returncode == 1 and "already holds data" in again.stderr and "--replace" in again.stderr


@pytest.mark.parametrize("blob_store", ["s3"], indirect=True)
def test_the_blobs_move_out_of_a_bucket_and_into_one_with_the_database(
    live_server: LiveServer, blob_store: BlobBackend, other_backend: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """A deployment whose blobs are in a bucket moves to the other backend with its blobs in a
    directory (``--from-blobs``, ``--to-data``), is served from there (a new laptop downloads
    the drawings), and moves back into a new bucket (``--to-blobs``), every byte verified."""
    data = live_server.data_dir
    source = database_of(data) or f"sqlite:///{data / 'fieldsync.db'}"
    shas = [sha for (sha,) in query(data, "SELECT sha256 FROM blobs")]
    assert shas and all(blob_store.exists(data, sha) for sha in shas)
    live_server.stop()

    moved = tmp_path / "moved"
    report = cli_json(
        "field-server", "migrate", "--from", source, "--to", other_backend,
        "--data", str(data), "--from-blobs", str(blob_store.url), "--to-data", str(moved),
    )  # fmt: skip
    assert report["blobs"] == {"copied": len(shas), "present": 0, "missing": 0}, report
    for sha in shas:
        assert (moved / "blobs" / sha[:2] / sha).read_bytes() == blob_store.read(data, sha)
    use_database(moved, other_backend)
    with LiveServer(moved) as server:
        with FieldClient(tmp_path / "wang-fang", retries=3, backoff=0.01) as new:
            new.login(server.url, server.enrollment("wang-fang"))
            fresh = new.sync()
            assert fresh.ok and fresh.blobs_downloaded > 0

    bucket = BlobBackend("s3", s3_endpoint)
    try:
        back = cli_json(
            "field-server", "migrate", "--from", other_backend, "--to", source, "--replace",
            "--data", str(moved), "--to-blobs", str(bucket.url),
        )  # fmt: skip
        assert back["blobs"] == {"copied": len(shas), "present": 0, "missing": 0}, back
        assert all(bucket.read(data, sha) == blob_store.read(data, sha) for sha in shas)
        again = cli_json(
            "field-server", "migrate", "--from", other_backend, "--to", source, "--replace",
            "--data", str(moved), "--to-blobs", str(bucket.url),
        )  # fmt: skip
        assert again["blobs"] == {"copied": 0, "present": len(shas), "missing": 0}, again
    finally:
        bucket.close()


def test_a_migrate_that_names_no_blob_store_for_a_postgresql_source_is_refused(tmp_path: Path) -> None:
    """A PostgreSQL source has no file to find its blobs beside: the operator is asked where they
    are before anything is opened or written."""
    target = tmp_path / "moved.db"
    refused = run_cli(
        "field-server", "migrate", "--from", "postgresql://postgres@127.0.0.1/fieldsync", "--to", f"sqlite:///{target}",
        check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "--from-blobs" in refused.stderr and "--data" in refused.stderr
    assert not target.exists()
