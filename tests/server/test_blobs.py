"""Blobs: content-addressed, resumable both ways, verified, and visible only within scope, with
the bytes in a directory or an S3 bucket (``blob_store``)."""

from __future__ import annotations

import hashlib

import pytest

from server.storage import records as store
from sync_protocol import JSON, BlobStatus, Drawing, ErrorBody, Photo, decode

from tests.support.blobstores import STORES

pytestmark = pytest.mark.parametrize("blob_store", STORES, indirect=True)

DATA = bytes(range(256)) * 40  # 10 KiB
SHA = hashlib.sha256(DATA).hexdigest()


def _put(world, device, offset, chunk, size=len(DATA), sha=SHA):
    return world.client.put(
        f"/sync/v1/blobs/{sha}?offset={offset}&size={size}",
        content=chunk,
        headers={**device.headers, "content-type": "application/octet-stream", "accept": JSON},
    )


def _photo_on_own_job(laptop):
    """A file is read through a record in scope: the engineer's photo on his job J-1."""
    assert laptop.push(laptop.event("J-1", Photo(sha256=SHA))).results[0].status == "applied"


def test_an_upload_cut_halfway_resumes_from_the_servers_offset(world):
    laptop = world.device("u-li-wei")
    assert _put(world, laptop, 0, DATA[:4000]).status_code == 200
    status = decode(world.client.get(f"/sync/v1/blobs/{SHA}/status", headers=laptop.headers).content, BlobStatus, JSON)
    assert (status.offset, status.complete, status.size) == (4000, False, len(DATA))
    wrong = _put(world, laptop, 0, DATA[:4000])
    assert wrong.status_code == 409
    assert decode(wrong.content, ErrorBody, JSON).detail == {"offset": 4000}
    done = decode(_put(world, laptop, 4000, DATA[4000:]).content, BlobStatus, JSON)
    assert done.complete and done.size == len(DATA)
    _photo_on_own_job(laptop)
    assert world.client.get(f"/sync/v1/blobs/{SHA}", headers=laptop.headers).content == DATA


def test_a_partial_upload_keeps_the_size_it_was_started_with(world):
    laptop = world.device("u-li-wei")
    assert _put(world, laptop, 0, DATA[:4000]).status_code == 200
    changed = _put(world, laptop, 4000, DATA[4000:6000], size=6000)  # would "complete" a short blob
    assert changed.status_code == 422
    body = decode(changed.content, ErrorBody, JSON)
    assert (body.error, body.field, body.detail) == ("invalid", "size", {"size": len(DATA)})
    done = decode(_put(world, laptop, 4000, DATA[4000:]).content, BlobStatus, JSON)
    assert done.complete and done.size == len(DATA)


def test_bytes_that_do_not_match_their_name_are_refused_and_discarded(world):
    laptop = world.device("u-li-wei")
    forged = b"x" * len(DATA)
    response = _put(world, laptop, 0, forged)
    assert response.status_code == 422
    body = decode(response.content, ErrorBody, JSON)
    assert (body.error, body.field) == ("sha256_mismatch", "sha256")
    status = decode(world.client.get(f"/sync/v1/blobs/{SHA}/status", headers=laptop.headers).content, BlobStatus, JSON)
    assert (status.offset, status.complete) == (0, False)


def test_uploading_a_blob_the_server_has_completes_at_once(world):
    laptop = world.device("u-li-wei")
    _put(world, laptop, 0, DATA)
    again = decode(_put(world, laptop, 0, DATA[:10]).content, BlobStatus, JSON)
    assert again.complete


def test_a_download_resumes_with_a_range(world):
    laptop = world.device("u-li-wei")
    _put(world, laptop, 0, DATA)
    _photo_on_own_job(laptop)
    response = world.client.get(f"/sync/v1/blobs/{SHA}", headers={**laptop.headers, "range": "bytes=1000-"})
    assert response.status_code == 206 and response.content == DATA[1000:]
    assert response.headers["content-range"] == f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"
    past = world.client.get(f"/sync/v1/blobs/{SHA}", headers={**laptop.headers, "range": "bytes=99999-"})
    assert past.status_code == 416


def test_an_engineer_fetches_only_drawings_of_their_jobs(world):
    office, li, zhang = world.device("u-chen-jing"), world.device("u-li-wei"), world.device("u-zhang-min")
    _put(world, office, 0, DATA)
    world.db.write(
        lambda c: store.put(
            c,
            Drawing(
                id="D-1",
                site_id="S-01",
                title="Cable routes B2",
                filename="b2.png",
                media_type="image/png",
                sha256=SHA,
                size=len(DATA),
            ),
        )
    )
    assert world.client.get(f"/sync/v1/blobs/{SHA}", headers=li.headers).status_code == 200
    refused = world.client.get(f"/sync/v1/blobs/{SHA}", headers=zhang.headers)
    assert refused.status_code == 403
    assert decode(refused.content, ErrorBody, JSON).error == "scope"


@pytest.mark.parametrize("name", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64])
def test_a_blob_name_that_is_not_a_sha256_never_reaches_the_filesystem(world, name):
    laptop = world.device("u-li-wei")
    response = world.client.get(f"/sync/v1/blobs/{name}/status", headers=laptop.headers)
    assert response.status_code in (400, 404)
    assert not (world.data_dir / "blobs" / "partial" / name).exists()


def test_a_chunk_running_past_the_declared_size_is_refused(world):
    laptop = world.device("u-li-wei")
    response = _put(world, laptop, 0, DATA, size=100)
    assert response.status_code == 422
    assert decode(response.content, ErrorBody, JSON).field == "size"
