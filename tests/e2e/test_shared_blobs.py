"""Two ``field-server serve`` processes sharing one blob store (a directory, or an S3 bucket):
an upload resumes on whichever process its next chunk reaches, even after the first one died,
chunks racing to both never corrupt it, and both serve the same bytes and ranges.

Both processes serve the same ``--data`` (one SQLite store, as they would share one PostgreSQL
database); the blobs live outside it, named by ``--blobs URL``.
"""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.blobstores import STORES, BlobBackend
from tests.support.live import LiveServer

pytestmark = pytest.mark.parametrize("blob_store", STORES, indirect=True)

CHUNK = 64 * 1024
DATA = random.Random(11).randbytes(5 * CHUNK + 4321)  # six chunks
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def pair(server_data: Path, blob_store: BlobBackend, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = blob_store.url or (tmp_path / "shared-blobs").as_uri()  # the directory outside --data
    first, second = LiveServer(server_data, blobs=url), LiveServer(server_data, blobs=url)
    with first, second:
        yield first, second


def device(server: LiveServer) -> str:
    """An office device's token (office roles read every blob): the same on both processes."""
    token = server.enrollment("chen-jing", "dispatcher")
    return str(httpx.post(f"{server.url}/sync/v1/enroll", json={"enrollment_token": token}).json()["device_token"])


def put(server: LiveServer, token: str, offset: int, chunk: bytes, size: int = len(DATA)) -> httpx.Response:
    return httpx.put(
        f"{server.url}/sync/v1/blobs/{SHA}",
        params={"offset": offset, "size": size},
        content=chunk,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=30,
    )


def status(server: LiveServer, token: str) -> dict:
    answer = httpx.get(f"{server.url}/sync/v1/blobs/{SHA}/status", headers={"Authorization": f"Bearer {token}"})
    return answer.json()  # type: ignore[no-any-return]


def get(server: LiveServer, token: str, range_: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **({"Range": range_} if range_ else {})}
    return httpx.get(f"{server.url}/sync/v1/blobs/{SHA}", headers=headers, timeout=30)


def test_an_upload_resumes_across_processes_and_both_serve_the_same_ranges(pair) -> None:
    a, b = pair
    token = device(a)
    assert put(a, token, 0, DATA[:CHUNK]).json()["offset"] == CHUNK
    assert status(b, token)["offset"] == CHUNK  # the other process sees what the first received
    assert put(b, token, CHUNK, DATA[CHUNK : 2 * CHUNK]).json()["offset"] == 2 * CHUNK
    stale = put(a, token, CHUNK, DATA[CHUNK : 2 * CHUNK])  # a retry whose answer was lost
    assert (stale.status_code, stale.json().get("detail")) == (409, {"offset": 2 * CHUNK}), stale.text
    resized = put(a, token, 2 * CHUNK, DATA[2 * CHUNK : 3 * CHUNK], size=len(DATA) + 1)
    assert (resized.status_code, resized.json()["field"]) == (422, "size")

    a.kill()  # the process that received the first chunk dies: nothing received is lost
    assert status(b, token)["offset"] == 2 * CHUNK
    with ThreadPoolExecutor(2) as pool:  # the same chunk reaches both processes at once
        a.start()
        racing = list(pool.map(lambda s: put(s, token, 2 * CHUNK, DATA[2 * CHUNK : 3 * CHUNK]), (a, b)))
    assert sorted(r.status_code for r in racing) in ([200, 200], [200, 409])
    assert status(a, token)["offset"] == status(b, token)["offset"] == 3 * CHUNK
    assert put(a, token, 3 * CHUNK, DATA[3 * CHUNK : 4 * CHUNK]).status_code == 200
    assert put(b, token, 4 * CHUNK, DATA[4 * CHUNK : 5 * CHUNK]).status_code == 200
    with ThreadPoolExecutor(2) as pool:  # and the last chunk too: both see it complete
        last = list(pool.map(lambda s: put(s, token, 5 * CHUNK, DATA[5 * CHUNK :]), (a, b)))
    assert all(r.status_code == 200 and r.json()["complete"] for r in last), [r.text for r in last]

    for server in (a, b):
        assert status(server, token) == {"sha256": SHA, "size": len(DATA), "offset": len(DATA), "complete": True}
        whole = get(server, token)
        assert whole.status_code == 200 and whole.content == DATA
        part = get(server, token, "bytes=70000-200000")
        assert part.status_code == 206 and part.content == DATA[70000:200001]
        assert part.headers["content-range"] == f"bytes 70000-200000/{len(DATA)}"
        tail = get(server, token, f"bytes={len(DATA) - 10}-")
        assert tail.status_code == 206 and tail.content == DATA[-10:]
        assert get(server, token, f"bytes={len(DATA)}-").status_code == 416


def test_bytes_that_do_not_hash_to_their_name_are_discarded_whichever_process_finishes(pair) -> None:
    a, b = pair
    token = device(a)
    forged = bytearray(DATA)
    forged[-1] ^= 0xFF
    assert put(a, token, 0, bytes(forged[: 3 * CHUNK])).status_code == 200
    refused = put(b, token, 3 * CHUNK, bytes(forged[3 * CHUNK :]))
    assert (refused.status_code, refused.json()["error"]) == (422, "sha256_mismatch")
    for server in (a, b):
        assert status(server, token).get("offset", 0) == 0 and get(server, token).status_code == 404
