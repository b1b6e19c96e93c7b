"""Content-addressed blob storage in a directory: drawings, photos, signature images.

A blob lives at ``blobs/ab/abcdef...`` under its SHA-256. Uploads arrive in chunks appended to
``blobs/partial/<sha>``; the partial file's size *is* the resume offset, so a server restart
loses nothing already received, and ``blobs/partial/<sha>.size`` holds the total size the upload
was started with (a chunk declaring another size is refused). The last chunk triggers verification:
bytes that do not hash to the blob's name are discarded and refused, never stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Iterator, NamedTuple

from sync_protocol import (
    ChecksumMismatch,
    InvalidValue,
    MalformedMessage,
    OffsetMismatch,
    RangeNotSatisfiable,
    TooLarge,
)
from .storage import Tx
from .storage import blobs as blob_rows

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_BLOB_BYTES = 2 * 1024**3
READ_CHUNK = 1024 * 1024


def check_sha(sha256: str) -> str:
    """The blob name must be a lower-case SHA-256: nothing else ever reaches the filesystem."""
    if not SHA256_RE.fullmatch(sha256):  # not match: "$" also matches before a final newline
        raise MalformedMessage("a blob is named by its lower-case hex SHA-256", field="sha256")
    return sha256


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


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial = root / "partial"
        self.partial.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def path(self, sha256: str) -> Path:
        check_sha(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def state(self, sha256: str) -> UploadState:
        if self.has(sha256):
            return UploadState(self.size(sha256), True, self.size(sha256))
        partial = self.partial / check_sha(sha256)
        return UploadState(partial.stat().st_size if partial.exists() else 0, False, self._declared(sha256))

    def _declared(self, sha256: str) -> int | None:
        """The total size an upload in progress was started with (None: none started)."""
        try:
            return int((self.partial / f"{sha256}.size").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _declare(self, sha256: str, size: int) -> None:
        """Remember an upload's total size beside its bytes, written whole before the first chunk."""
        target = self.partial / f"{sha256}.size"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(str(size))
        os.replace(tmp, target)

    def add_file(self, source: Path) -> tuple[str, int]:
        """Store a local file (fixtures, office uploads); returns (sha256, size)."""
        sha = file_sha256(source)
        target = self.path(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            with source.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(READ_CHUNK):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        return sha, target.stat().st_size

    def write_chunk(self, sha256: str, offset: int, size: int, data: bytes) -> UploadState:
        """Append a chunk at ``offset`` of an upload of ``size`` bytes."""
        check_sha(sha256)
        check_size(size)
        if self.has(sha256):
            return self.state(sha256)
        with self._lock(sha256):
            partial = self.partial / sha256
            have = partial.stat().st_size if partial.exists() else 0
            declared = self._declared(sha256)
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
            if offset + len(data) > size:
                raise InvalidValue(f"chunk runs past the declared size {size}", field="size")
            if declared != size:
                self._declare(sha256, size)
            with partial.open("ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if offset + len(data) < size:
                return UploadState(offset + len(data), False, size)
            return self._finish(sha256, partial, size)

    def _finish(self, sha256: str, partial: Path, size: int) -> UploadState:
        actual = file_sha256(partial)
        (self.partial / f"{sha256}.size").unlink(missing_ok=True)
        if actual != sha256:
            partial.unlink()
            raise ChecksumMismatch(
                f"the uploaded bytes hash to {actual}, not {sha256}; upload discarded", field="sha256"
            )
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        return UploadState(size, True, size)

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream bytes ``start``..``end`` (inclusive) of a stored blob."""
        with self.path(sha256).open("rb") as fh:
            fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = fh.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, sha256: str) -> None:
        """Remove a complete file (housekeeping; the caller holds the write transaction that
        removes its row, so no upload completes in between)."""
        self.path(sha256).unlink(missing_ok=True)

    def drop_partial(self, sha256: str) -> None:
        (self.partial / check_sha(sha256)).unlink(missing_ok=True)
        (self.partial / f"{sha256}.size").unlink(missing_ok=True)

    def partials(self) -> list[tuple[str, float]]:
        """Unfinished uploads on disk: (sha256, time of their last chunk)."""
        out = []
        for path in self.partial.iterdir():
            if SHA256_RE.fullmatch(path.name):
                try:
                    out.append((path.name, path.stat().st_mtime))
                except FileNotFoundError:
                    continue
        return out

    def _lock(self, sha256: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(sha256, threading.Lock())


def record_complete(
    conn: Tx, store: "BlobStore", sha256: str, size: int, media_type: str, user_id: str, device_id: str
) -> bool:
    """``storage.blobs.record`` for an upload that just completed, if its file is still there: housekeeping
    may have collected it between the chunk and this transaction (then False: send it again)."""
    if not store.has(sha256):
        return False
    blob_rows.record(conn, sha256, size, media_type, user_id, device_id)
    return True


def check_size(size: int) -> None:
    if size > MAX_BLOB_BYTES:
        raise TooLarge(f"a blob may hold at most {MAX_BLOB_BYTES} bytes", field="size", limit=MAX_BLOB_BYTES)


def reserve_upload(conn: Tx, sha256: str, size: int, device_id: str, user_id: str, quota: int) -> bool:
    """Charge an upload to the device that starts it, within its quota of bytes in flight (the
    size it began with holds: ``BlobStore.write_chunk``). True when it began here (a chunk then
    refused undoes it with ``storage.blobs.drop_upload``)."""
    if blob_rows.touch_upload(conn, sha256):
        return False
    in_flight = blob_rows.in_flight(conn, device_id)
    if in_flight + size > quota:
        raise TooLarge(
            f"this device has {in_flight} bytes of unfinished uploads; another {size} would pass "
            f"its quota of {quota}: finish those first",
            field="size",
            quota=quota,
            in_flight=in_flight,
        )
    blob_rows.begin_upload(conn, sha256, size, device_id, user_id)
    return True


def parse_range(header: str | None, size: int) -> tuple[int, int]:
    """``Range: bytes=N-`` or ``bytes=N-M`` as (start, end inclusive); the whole blob without one.

    Only single ranges are served: a cut download resumes from one offset, nothing more.
    """
    if not header or size == 0:
        return 0, max(size - 1, 0)
    unit, _, spec = header.partition("=")
    first, _, last = spec.partition("-")
    if unit.strip() != "bytes" or "," in spec or not _digits(first) or (last.strip() and not _digits(last)):
        raise MalformedMessage("Range must be 'bytes=N-' or 'bytes=N-M'", field="range")
    # A position past any file (more digits than 2^60 has) is past this one: no int() of it.
    start = int(first) if len(first.strip()) <= _MAX_DIGITS else size
    end = min(int(last), size - 1) if last.strip() and len(last.strip()) <= _MAX_DIGITS else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(
            f"the blob holds {size} bytes; range {header!r} is outside it", field="range", size=size
        )
    return start, end


_MAX_DIGITS = 18


def parse_count(raw: str | None, name: str) -> int:
    """A required non-negative integer from a query parameter: ASCII digits only (``int()`` would
    also take "-1", "1_000" or "١"), at most 18 of them (5,000 digits would make ``int()`` fail)."""
    if raw is None:
        raise MalformedMessage(f"query parameter {name} is required", field=name)
    if not _digits(raw):
        raise MalformedMessage(f"query parameter {name} must be a non-negative integer, not {raw[:40]!r}", field=name)
    if len(raw.strip()) > _MAX_DIGITS:
        raise MalformedMessage(f"query parameter {name} is far larger than any file", field=name)
    return int(raw)


def _digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` then refuses."""
    return text.strip().isascii() and text.strip().isdigit()
