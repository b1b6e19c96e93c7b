"""What the database knows of blobs (drawings, photos, signature images), and the wire's rules
for naming and reading them.

The bytes live in a blob store (``server/blobstore``: a directory or S3-compatible object
storage, behind one interface that resumes uploads, verifies them by hash and serves ranges);
this module decides what an upload is charged to and whether a completed one is recorded, through
the storage layer (``storage.blobs``).
"""

from __future__ import annotations

from sync_protocol import MalformedMessage, RangeNotSatisfiable, TooLarge

from .blobstore import BlobStore
from .storage import Tx
from .storage import blobs as blob_rows


def record_complete(
    conn: Tx, store: "BlobStore", sha256: str, size: int, media_type: str, user_id: str, device_id: str
) -> bool:
    """``storage.blobs.record`` for an upload that just completed, if its file is still there: housekeeping
    may have collected it between the chunk and this transaction (then False: send it again)."""
    if not store.has(sha256):
        return False
    blob_rows.record(conn, sha256, size, media_type, user_id, device_id)
    return True


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
