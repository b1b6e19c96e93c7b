"""The blob stores themselves (``server/blobstore``), each held to the same contract: uploads
racing from many threads never corrupt a blob, ranges read what was stored, files added whole are
named by their hash, and ``--blobs URL`` / ``[blobs]`` choose the store or say what is wrong."""

from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path

import pytest

from server import policy
from server.blobstore import BlobStore, DirectoryStore, config_from_url, open_store
from server.cli import main
from server.fixtures import read_fixtures
from sync_protocol import ChecksumMismatch, InvalidValue, OffsetMismatch
from tests.support.blobstores import STORES, BlobBackend
from tests.support.live import DEMO_DATA

DATA = random.Random(3).randbytes(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
CHUNK = 16_384


@pytest.fixture
def store(tmp_path: Path, blob_store: BlobBackend) -> BlobStore:
    return open_store(tmp_path, policy.BlobsConfig(), blob_store.url)


@pytest.mark.parametrize("blob_store", STORES, indirect=True)
def test_threads_racing_on_one_upload_end_with_the_right_bytes(store: BlobStore) -> None:
    refused: list[int] = []

    def uploader() -> None:
        while True:
            state = store.state(SHA)
            if state.complete:
                return
            try:
                store.write_chunk(SHA, state.offset, len(DATA), DATA[state.offset : state.offset + CHUNK])
            except OffsetMismatch as exc:
                refused.append(exc.detail["offset"])

    threads = [threading.Thread(target=uploader) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert store.has(SHA) and store.size(SHA) == len(DATA)
    assert b"".join(store.read(SHA)) == DATA
    assert store.partials() == []
    if isinstance(store, DirectoryStore):  # no partial file, size note, lock or temporary file left
        assert [p.name for p in store.partial.iterdir()] == [] and list(store.tmp.iterdir()) == []


@pytest.mark.parametrize("blob_store", STORES, indirect=True)
def test_ranges_sizes_and_refusals_are_the_same_on_both(store: BlobStore) -> None:
    assert store.state(SHA) == (0, False, None)
    store.write_chunk(SHA, 0, len(DATA), DATA[:CHUNK])
    assert store.state(SHA) == (CHUNK, False, len(DATA))
    with pytest.raises(InvalidValue) as resized:
        store.write_chunk(SHA, CHUNK, len(DATA) - 1, DATA[CHUNK : 2 * CHUNK])
    assert resized.value.field == "size"
    with pytest.raises(InvalidValue):  # past the declared size
        store.write_chunk(SHA, CHUNK, len(DATA), DATA[CHUNK:] + b"x")
    assert store.write_chunk(SHA, CHUNK, len(DATA), DATA[CHUNK:]).complete
    assert b"".join(store.read(SHA, 1000, 1999)) == DATA[1000:2000]
    assert b"".join(store.read(SHA, len(DATA) - 5)) == DATA[-5:]
    store.delete(SHA)
    assert not store.has(SHA) and store.state(SHA).offset == 0


@pytest.mark.parametrize("blob_store", STORES, indirect=True)
def test_bytes_that_do_not_hash_to_the_name_leave_nothing(store: BlobStore) -> None:
    forged = DATA[:-1] + b"!"
    store.write_chunk(SHA, 0, len(DATA), forged[:CHUNK])
    with pytest.raises(ChecksumMismatch):
        store.write_chunk(SHA, CHUNK, len(DATA), forged[CHUNK:])
    assert not store.has(SHA) and store.state(SHA) == (0, False, None) and store.partials() == []


@pytest.mark.parametrize("blob_store", STORES, indirect=True)
def test_files_added_whole_are_named_by_their_hash(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "drawing.pdf"
    source.write_bytes(DATA)
    assert store.add_file(source) == (SHA, len(DATA)) == store.add_bytes(DATA)
    assert b"".join(store.read(SHA)) == DATA
    store.write_chunk(SHA[::-1], 0, 10, b"0123")  # an unfinished upload is listed, then dropped
    assert [sha for sha, _ in store.partials()] == [SHA[::-1]]
    store.drop_partial(SHA[::-1])
    assert store.partials() == []


def test_blob_urls_and_config_choose_the_store(tmp_path: Path) -> None:
    assert config_from_url("file:///srv/blobs") == policy.BlobsConfig(directory="/srv/blobs")
    s3 = config_from_url("s3://fieldsync/prod/blobs?endpoint=http://127.0.0.1:9000&region=eu-west-1")
    assert (s3.store, s3.bucket, s3.prefix, s3.endpoint_url, s3.region) == (
        "s3",
        "fieldsync",
        "prod/blobs",
        "http://127.0.0.1:9000",
        "eu-west-1",
    )
    for bad in ("ftp://x", "s3://", "s3://b?endpoit=http://x", "file://host/path", "/srv/blobs"):
        with pytest.raises(policy.ConfigError, match="--blobs"):
            config_from_url(bad)
    parsed = policy.parse('[blobs]\nstore = "s3"\nbucket = "b"\nendpoint_url = "http://127.0.0.1:9"\n')
    assert (parsed.blobs.store, parsed.blobs.bucket) == ("s3", "b")
    with pytest.raises(policy.ConfigError, match="blobs.bucket"):
        policy.parse('[blobs]\nstore = "s3"\n')
    with pytest.raises(policy.ConfigError):
        policy.parse('[blobs]\nstore = "ftp"\n')
    assert open_store(tmp_path, policy.parse('[blobs]\ndirectory = "elsewhere"\n').blobs).root == tmp_path / "elsewhere"  # type: ignore[attr-defined]


def test_a_bucket_that_is_not_there_stops_the_command(
    tmp_path: Path, s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "server"
    assert main(["init", "--data", str(data)]) == 0
    url = f"s3://no-such-bucket?endpoint={s3_endpoint}"
    assert main(["job", "run", "housekeeping", "--data", str(data), "--blobs", url]) == 1
    assert "no-such-bucket" in capsys.readouterr().err


@pytest.mark.parametrize("blob_store", ["s3"], indirect=True)
def test_fixtures_load_their_files_into_the_chosen_store(tmp_path: Path, blob_store: BlobBackend) -> None:
    data = tmp_path / "server"
    assert main(["init", "--data", str(data)]) == 0
    assert main(["load-fixtures", "--data", str(data), "--blobs", str(blob_store.url), str(DEMO_DATA)]) == 0
    assert all(blob_store.exists(data, blob.sha256) for blob in read_fixtures(DEMO_DATA).blobs)
    assert not (data / "blobs").exists()
