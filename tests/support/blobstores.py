"""The two blob stores, for tests that run against both (one fixture parameter, ``blob_store``).

``directory`` is the default under ``--data``; ``s3`` is a bucket on an S3-protocol server the
tests start themselves: moto's server mode (``ThreadedMotoServer``) on 127.0.0.1 and a free
port, once per session, stopped at its end. Each test gets a bucket of its own.

``BlobBackend`` is how a test looks at (and, to simulate bit rot, damages) what the server
stored, without knowing where: ``exists``, ``read``, ``write``, ``partial_names``.

    pytestmark = pytest.mark.parametrize("blob_store", ["directory", "s3"], indirect=True)
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from server.blobstore import SHA256_RE
from server.process import free_port

STORES = ["directory", "s3"]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "fieldsync-test", "AWS_SECRET_ACCESS_KEY": "fieldsync-test-secret"}


class BlobBackend:
    """Where a test's server keeps blob bytes, and a raw look at them."""

    def __init__(self, kind: str, endpoint: str | None = None) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.bucket = f"fieldsync-{uuid.uuid4().hex[:16]}"
        self.client: Any = None
        if kind == "s3":
            import boto3

            self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys())
            self.client.create_bucket(Bucket=self.bucket)

    @property
    def url(self) -> str | None:
        """``--blobs URL`` for the server (None: the default directory under ``--data``)."""
        return None if self.kind == "directory" else f"s3://{self.bucket}?endpoint={self.endpoint}"

    def args(self) -> list[str]:
        return [] if self.url is None else ["--blobs", self.url]

    def config(self) -> str:
        """The same choice as a ``[blobs]`` section of config.toml."""
        if self.kind == "directory":
            return ""
        return f'[blobs]\nstore = "s3"\nbucket = "{self.bucket}"\nendpoint_url = "{self.endpoint}"\n'

    def seed(self, data_dir: Path) -> None:
        """Copy the complete blobs of a data directory (the demo template's) into the bucket."""
        if self.kind == "s3":
            for path in (data_dir / "blobs").glob("??/*"):
                if SHA256_RE.fullmatch(path.name):
                    self.client.upload_file(str(path), self.bucket, f"blobs/{path.name}")

    def exists(self, data_dir: Path, sha: str) -> bool:
        if self.kind == "directory":
            return (data_dir / "blobs" / sha[:2] / sha).exists()
        return bool(self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"blobs/{sha}").get("KeyCount"))

    def read(self, data_dir: Path, sha: str) -> bytes:
        if self.kind == "directory":
            return (data_dir / "blobs" / sha[:2] / sha).read_bytes()
        return self.client.get_object(Bucket=self.bucket, Key=f"blobs/{sha}")["Body"].read()  # type: ignore[no-any-return]

    def write(self, data_dir: Path, sha: str, data: bytes) -> None:
        """Overwrite a stored blob behind the server's back (bit rot, a bad copy)."""
        if self.kind == "directory":
            (data_dir / "blobs" / sha[:2] / sha).write_bytes(data)
        else:
            self.client.put_object(Bucket=self.bucket, Key=f"blobs/{sha}", Body=data)

    def partial_names(self, data_dir: Path, sha: str) -> list[str]:
        """What is left of an unfinished upload of ``sha``: partial files, or parts in the bucket."""
        if self.kind == "directory":
            return [p.name for p in (data_dir / "blobs" / "partial").glob(f"{sha}*")]
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"partial/{sha}")
        return [o["Key"] for o in listing.get("Contents", [])]

    def close(self) -> None:
        if self.client is not None:
            objects = self.client.list_objects_v2(Bucket=self.bucket).get("Contents", [])
            if objects:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": o["Key"]} for o in objects]})
            self.client.delete_bucket(Bucket=self.bucket)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-protocol server on loopback for the whole session (moto's server mode), and the
    credentials it takes in the environment the server processes inherit."""
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def blob_store(request: pytest.FixtureRequest) -> Iterator[BlobBackend]:
    """The blob store of this test's server: the directory unless parametrized with "s3"."""
    kind = getattr(request, "param", "directory")
    backend = BlobBackend(kind, request.getfixturevalue("s3_endpoint") if kind == "s3" else None)
    try:
        yield backend
    finally:
        backend.close()
