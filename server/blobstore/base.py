"""What every blob store shares: the naming rule, the size limit, the upload state and the
interface ``blobs.py``, ``blob_api.py``, housekeeping, fixtures and the office call.

A blob is named by the SHA-256 of its bytes and never changes. An upload arrives in chunks; the
bytes received so far *are* the resume offset (nothing else records it), the total size the
upload was started with holds until it completes, and the complete bytes are hashed before the
blob becomes visible: bytes that do not hash to the name are discarded, never stored.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterator, NamedTuple, Protocol

from sync_protocol import ChecksumMismatch, InvalidValue, MalformedMessage, OffsetMismatch, TooLarge

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_BLOB_BYTES = 2 * 1024**3
READ_CHUNK = 1024 * 1024


def check_sha(sha256: str) -> str:
    """The blob name must be a lower-case SHA-256: nothing else ever reaches a file or a key."""
    if not SHA256_RE.fullmatch(sha256):  # not match: "$" also matches before a final newline
        raise MalformedMessage("a blob is named by its lower-case hex SHA-256", field="sha256")
    return sha256


def check_size(size: int) -> None:
    if size > MAX_BLOB_BYTES:
        raise TooLarge(f"a blob may hold at most {MAX_BLOB_BYTES} bytes", field="size", limit=MAX_BLOB_BYTES)


class BlobStoreUnavailable(RuntimeError):
    """The blob store cannot be used as configured (a missing bucket, refused credentials); the
    message says what to check."""


class UploadState(NamedTuple):
    offset: int
    complete: bool
    size: int | None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_chunk(have: int, declared: int | None, offset: int, size: int, length: int) -> None:
    """Whether a chunk of ``length`` bytes at ``offset`` of an upload of ``size`` bytes may be
    appended to the ``have`` bytes received so far (an upload begun with ``declared`` bytes):
    the one rule both stores apply, under their lock or not at all."""
    if have and declared is not None and declared != size:
        raise InvalidValue(
            f"this upload was started with size {declared}, not {size}: a blob's size does not change",
            field="size",
            size=declared,
        )
    if offset != have:
        raise OffsetMismatch(
            f"the server holds {have} bytes of this blob; resume at {have}", field="offset", offset=have
        )
    if offset + length > size:
        raise InvalidValue(f"chunk runs past the declared size {size}", field="size")


def mismatch(actual: str, sha256: str) -> ChecksumMismatch:
    return ChecksumMismatch(f"the uploaded bytes hash to {actual}, not {sha256}; upload discarded", field="sha256")


class BlobStore(Protocol):
    """Where blob bytes live. Every method is safe to call from several threads and, for the
    stores here, from several server processes sharing the same directory or bucket."""

    @property
    def location(self) -> str:
        """Where the bytes are, as one string (two stores with the same one are the same store)."""
        ...

    def has(self, sha256: str) -> bool:
        """Whether the complete, verified blob is stored."""
        ...

    def size(self, sha256: str) -> int:
        """The size of a complete blob (``FileNotFoundError`` when there is none)."""
        ...

    def state(self, sha256: str) -> UploadState:
        """Complete, or how many bytes of an upload in progress are held and its declared size."""
        ...

    def write_chunk(self, sha256: str, offset: int, size: int, data: bytes) -> UploadState:
        """Append a chunk at ``offset`` of an upload of ``size`` bytes; the last chunk verifies."""
        ...

    def add_file(self, source: Path) -> tuple[str, int]:
        """Store a local file under its hash (fixtures); returns (sha256, size)."""
        ...

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes under their hash (office uploads); returns (sha256, size)."""
        ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` (inclusive) of a complete blob."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove a complete blob (housekeeping)."""
        ...

    def drop_partial(self, sha256: str) -> None:
        """Forget an unfinished upload and the bytes it received."""
        ...

    def partials(self) -> list[tuple[str, float]]:
        """Unfinished uploads: (sha256, POSIX time of their last chunk)."""
        ...


def complete(store: BlobStore, sha256: str) -> UploadState | None:
    """The state of a complete blob (None: the store holds none by that name)."""
    try:
        size = store.size(sha256)
    except FileNotFoundError:
        return None
    return UploadState(size, True, size)
