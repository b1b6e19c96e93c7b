"""Drawings down, photos up: resumable both ways, checked by hash, never fetched twice; with the
blobs in the server's directory and in an S3 bucket alike."""

from __future__ import annotations

import hashlib
import random
from typing import Iterator

import httpx
import pytest

from field_client import ServerUnreachable
from sync_protocol import BLOB_CHUNK_BYTES, Photo

from tests.support.blobstores import STORES
from tests.support.live import Wire

pytestmark = pytest.mark.parametrize("blob_store", STORES, indirect=True)

PHOTO_SIZE = 2 * BLOB_CHUNK_BYTES + 12_345  # three chunks


def photo_bytes() -> bytes:
    return random.Random(7).randbytes(PHOTO_SIZE)


def stored(server, sha: str) -> bytes | None:
    """The bytes the server stored under ``sha`` (None: none), wherever its blobs live."""
    store = server.blob_store
    return store.read(server.data_dir, sha) if store.exists(server.data_dir, sha) else None


def test_an_upload_cut_after_one_chunk_resumes_at_the_servers_offset(live_server, laptop) -> None:
    cut = {"puts": 0, "armed": True}

    def cut_second_chunk(request: httpx.Request) -> None:
        if request.method == "PUT" and cut["armed"]:
            cut["puts"] += 1
            if cut["puts"] == 2:
                raise httpx.ConnectError("network gone", request=request)

    wire = Wire(before=cut_second_chunk)
    li = laptop("li-wei", http=wire, retries=0)
    li.sync()
    sha = li.add_blob(photo_bytes(), "image/jpeg")
    li.record_event("J-0001", Photo(sha256=sha, caption="burnt PSU connector"))

    with pytest.raises(ServerUnreachable):
        li.sync()
    assert len(li.pending()) == 1  # the event waits for its photo
    assert stored(live_server, sha) is None
    sent_before = sum(size for *_, size, _ in [(m, p, s, r) for m, p, s, r in wire.calls("PUT", "/sync/v1/blobs")])
    assert sent_before == BLOB_CHUNK_BYTES

    cut["armed"] = False
    wire.log.clear()
    report = li.sync()

    resent = [size for _, _, size, _ in wire.calls("PUT", "/sync/v1/blobs")]
    assert sum(resent) == PHOTO_SIZE - BLOB_CHUNK_BYTES  # only what the server lacked
    assert report.applied == 1 and report.blobs_uploaded == 1
    assert hashlib.sha256(stored(live_server, sha) or b"").hexdigest() == sha


def test_a_chunk_whose_answer_is_lost_is_not_sent_again(live_server, laptop) -> None:
    lost = {"done": False}

    def lose_first_chunk_answer(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.method == "PUT" and not lost["done"]:
            lost["done"] = True
            response.close()
            raise httpx.ReadError("answer lost", request=request)
        return response

    wire = Wire(on_response=lose_first_chunk_answer)
    li = laptop("li-wei", http=wire)
    li.sync()
    sha = li.add_blob(photo_bytes(), "image/jpeg")
    li.record_event("J-0001", Photo(sha256=sha))
    li.sync()

    assert lost["done"]
    # chunk 1 twice (its answer was lost; the retry is told the offset moved on), then 2 and 3
    assert sum(size for _, _, size, _ in wire.calls("PUT", "/sync/v1/blobs")) == PHOTO_SIZE + BLOB_CHUNK_BYTES
    assert hashlib.sha256(stored(live_server, sha) or b"").hexdigest() == sha


class _CutStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, keep: int) -> None:
        self.inner, self.keep = inner, keep

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self.inner:
            if sent + len(chunk) > self.keep:
                yield chunk[: self.keep - sent]
                raise httpx.ReadError("connection dropped mid-download")
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


def test_a_cut_download_resumes_with_a_range_and_is_verified(live_server, laptop) -> None:
    cut: set[str] = set()

    def cut_each_drawing_once(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.startswith("/sync/v1/blobs/") and path not in cut:
            cut.add(path)
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=_CutStream(response.stream, 1000),
                request=request,
            )
        return response

    wire = Wire(on_response=cut_each_drawing_once)
    li = laptop("li-wei", http=wire)
    report = li.sync()

    assert report.ok and report.blobs_downloaded == len(li.records("drawing")) > 0
    resumed = [rng for _, _, _, rng in wire.calls("GET", "/sync/v1/blobs/") if rng]
    assert resumed and all(rng == "bytes=1000-" for rng in resumed)
    for drawing in li.records("drawing"):
        data = li.blob_path(drawing.sha256).read_bytes()
        assert len(data) == drawing.size and hashlib.sha256(data).hexdigest() == drawing.sha256


def test_a_corrupted_download_is_refused_and_fetched_again_later(live_server, laptop) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    # Corrupt one drawing on the server's disk (bit rot, a bad copy) before the laptop fetches it.
    drawing = live_server.records("drawing")["D-01"]
    store, sha = live_server.blob_store, drawing["sha256"]
    good = store.read(live_server.data_dir, sha)
    store.write(live_server.data_dir, sha, good[:-1] + bytes([good[-1] ^ 0xFF]))

    report = li.sync()

    assert not report.ok and any("D-01" in p and "refused" in p for p in report.problems)
    assert li.blob_path(drawing["sha256"]) is None
    assert not list((li.home / "blobs" / "partial").glob(drawing["sha256"]))

    store.write(live_server.data_dir, sha, good)
    wire.log.clear()
    report = li.sync()
    assert report.ok and report.blobs_downloaded == 1
    assert [p for _, p, _, _ in wire.calls("GET", "/sync/v1/blobs/")] == [f"/sync/v1/blobs/{drawing['sha256']}"]


def test_a_drawing_on_the_laptop_is_never_downloaded_again(live_server, laptop) -> None:
    wire = Wire()
    li = laptop("li-wei", http=wire)
    li.sync()
    assert wire.calls("GET", "/sync/v1/blobs/")
    wire.log.clear()

    report = li.sync()

    assert report.blobs_downloaded == 0 and not wire.calls("GET", "/sync/v1/blobs/")


def test_an_upload_whose_bytes_do_not_match_their_hash_is_refused(live_server, laptop) -> None:
    li = laptop("li-wei")
    li.sync()
    sha = li.add_blob(b"photo of the rack, before" * 1000, "image/jpeg")
    li.record_event("J-0001", Photo(sha256=sha))
    cached = li.blob_path(sha)
    cached.write_bytes(cached.read_bytes()[:-1] + b"!")  # the laptop's disk flipped a byte

    report = li.sync()

    assert not report.ok and any("refused by the server" in p for p in report.problems)
    assert stored(live_server, sha) is None
    assert not live_server.blob_store.partial_names(live_server.data_dir, sha)
    assert report.applied == 1  # the event itself is a fact and is kept; the missing file is reported
