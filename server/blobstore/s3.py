"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...), through boto3.

Keys, under an optional prefix::

    blobs/<sha>                         a complete, verified blob
    partial/<sha>/<size>/<offset>       one received chunk of an upload of <size> bytes
    tmp/<sha>.<random>                  a blob being assembled, before it is verified

Why parts kept as objects and not an S3 multipart upload: the protocol's chunks are 4 MiB and
S3 multipart parts must be at least 5 MiB (all but the last), and a multipart upload cannot be
read back before it completes, so it could not be verified before becoming visible.

- **Resume.** The offset is the end of the chain of parts from 0 (the part at 0, then the part
  starting where it ends, ...): what has been received, read off the bucket, so any server
  process answers the same and a restart loses nothing. A chunk is one ``PUT`` of one object,
  which S3 makes visible whole or not at all.
- **Several processes.** No lock is needed: two processes receiving the same chunk write the
  same key with the same bytes, and a part that does not continue the chain (a racing writer's
  other cut) is ignored and dropped with the upload. Whatever chain completes is hashed before
  anything becomes visible, so a mixture can at worst be refused, never stored.
- **Size.** The size an upload began with is in its parts' keys; a chunk declaring another size
  while a chain exists is refused (``422``).
- **Verification.** The last chunk streams the chain, hashing it, into ``tmp/<sha>.<random>``;
  only when the hash is the name is it copied (server side) to ``blobs/<sha>``, then the parts and
  the temporary object are deleted. Two processes finishing the same upload copy identical bytes.
- **Downloads** with ``Range`` are ranged ``GET`` requests.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from sync_protocol import OffsetMismatch

from .base import (
    READ_CHUNK,
    BlobStoreUnavailable,
    UploadState,
    check_chunk,
    complete,
    check_sha,
    check_size,
    file_sha256,
    mismatch,
)

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class _Part(NamedTuple):
    key: str
    size: int  # the declared size of the whole blob
    offset: int
    length: int
    modified: float


class S3Store:
    """The ``BlobStore`` over one bucket (and key prefix) of an S3-compatible service."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        # Path-style addressing: what MinIO and most self-hosted services expect at a custom endpoint.
        config = BotoConfig(s3={"addressing_style": "path" if endpoint_url else "auto"}, retries={"mode": "standard"})
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            raise BlobStoreUnavailable(
                f"blob bucket {bucket!r} at {endpoint_url or 'the default S3 endpoint'}: {exc}"
            ) from None

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}?endpoint={self.endpoint_url or ''}"

    def key(self, sha256: str) -> str:
        """The object key of a complete blob."""
        return f"{self.prefix}blobs/{check_sha(sha256)}"

    def _partial_prefix(self, sha256: str) -> str:
        return f"{self.prefix}partial/{check_sha(sha256)}/"

    def has(self, sha256: str) -> bool:
        try:
            self.size(sha256)
        except FileNotFoundError:
            return False
        return True

    def size(self, sha256: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(sha256) from None
            raise
        return int(head["ContentLength"])

    def state(self, sha256: str) -> UploadState:
        done = complete(self, sha256)
        if done is not None:
            return done
        chain, declared = self._chain(sha256)
        return UploadState(sum(p.length for p in chain), False, declared)

    def _parts(self, sha256: str) -> list[_Part]:
        prefix = self._partial_prefix(sha256)
        parts = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                size, _, offset = obj["Key"][len(prefix) :].partition("/")
                if size.isdigit() and offset.isdigit():
                    parts.append(
                        _Part(obj["Key"], int(size), int(offset), int(obj["Size"]), obj["LastModified"].timestamp())
                    )
        return parts

    def _chain(self, sha256: str) -> tuple[list[_Part], int | None]:
        """The parts received in order from offset 0 (the longest chain of any declared size),
        and the size that chain declares (None when nothing was received)."""
        parts = self._parts(sha256)
        best: list[_Part] = []
        for size in sorted({p.size for p in parts}):
            at = {p.offset: p for p in parts if p.size == size and p.length > 0}
            chain, offset = [], 0
            while offset in at:
                chain.append(at[offset])
                offset += at[offset].length
            if len(chain) > len(best):
                best = chain
        if best:
            return best, best[0].size
        return [], (parts[0].size if parts else None)

    def write_chunk(self, sha256: str, offset: int, size: int, data: bytes) -> UploadState:
        check_sha(sha256)
        check_size(size)
        if self.has(sha256):
            return self.state(sha256)
        chain, declared = self._chain(sha256)
        have = sum(p.length for p in chain)
        try:
            check_chunk(have, declared, offset, size, len(data))
        except OffsetMismatch:
            if self.has(sha256):  # another process completed it, and dropped its parts, meanwhile
                return self.state(sha256)
            if have == size == declared:  # another process received the last chunk and is verifying
                return self._finish(sha256, size)
            raise
        if data:
            self.client.put_object(
                Bucket=self.bucket, Key=f"{self._partial_prefix(sha256)}{size:012d}/{offset:012d}", Body=data
            )
        if offset + len(data) < size:
            return UploadState(offset + len(data), False, size)
        return self._finish(sha256, size)

    def _finish(self, sha256: str, size: int) -> UploadState:
        chain, _ = self._chain(sha256)
        if sum(p.length for p in chain) != size:
            return self.state(sha256)  # another process finished (or dropped) it meanwhile
        digest = hashlib.sha256()
        tmp = f"{self.prefix}tmp/{sha256}.{uuid.uuid4().hex}"
        try:
            self.client.upload_fileobj(_Concatenated(self, chain, digest), self.bucket, tmp)
        except Exception:
            self._delete([tmp])
            if self.has(sha256):  # a part went because another process finished the upload
                return self.state(sha256)
            raise
        try:
            if digest.hexdigest() != sha256:
                self.drop_partial(sha256)
                raise mismatch(digest.hexdigest(), sha256)
            self.client.copy_object(
                Bucket=self.bucket, Key=self.key(sha256), CopySource={"Bucket": self.bucket, "Key": tmp}
            )
        finally:
            self._delete([tmp])
        self.drop_partial(sha256)
        return UploadState(size, True, size)

    def add_file(self, source: Path) -> tuple[str, int]:
        sha = file_sha256(source)
        if not self.has(sha):
            self.client.upload_file(str(source), self.bucket, self.key(sha))
        return sha, self.size(sha)

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self.client.put_object(Bucket=self.bucket, Key=self.key(sha), Body=data)
        return sha, len(data)

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        args = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if start > 0 or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        body = self.client.get_object(**args)["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def drop_partial(self, sha256: str) -> None:
        self._delete([p.key for p in self._parts(sha256)])

    def partials(self) -> list[tuple[str, float]]:
        prefix = f"{self.prefix}partial/"
        latest: dict[str, float] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                sha = obj["Key"][len(prefix) :].partition("/")[0]
                latest[sha] = max(latest.get(sha, 0.0), obj["LastModified"].timestamp())
        return sorted(latest.items())

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def get_part(self, key: str) -> Any:
        """The streaming body of one received chunk (for ``_Concatenated``)."""
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]


class _Concatenated(io.RawIOBase):
    """The parts of a chain read as one file, hashed on the way: what ``upload_fileobj`` streams
    into the temporary object, so the blob is read once to be both hashed and assembled."""

    def __init__(self, store: S3Store, chain: list[_Part], digest: "hashlib._Hash") -> None:
        self.store, self.keys, self.digest = store, [p.key for p in chain], digest
        self.body: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if self.body is None:
                if not self.keys:
                    return 0
                self.body = self.store.get_part(self.keys.pop(0))
            data = self.body.read(len(buffer))
            if data:
                self.digest.update(data)
                buffer[: len(data)] = data
                return len(data)
            self.body.close()
            self.body = None


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING
