"""Blob metadata: which complete files the server holds (``blobs``: size, media type, who
uploaded it from which device, when last touched) and the unfinished uploads charged to each
device (``uploads``). The bytes themselves are ``server.blobs``' business, never the database's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from .base import Tx


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()  # microseconds: compared with devices.last_seen_at


def record(tx: Tx, sha256: str, size: int, media_type: str, user_id: str, device_id: str | None = None) -> None:
    """Note a complete blob, who uploaded it first (``scopes.blob_visible`` asks), and that it was
    touched now (housekeeping collects files nothing names only when untouched for a while);
    its unfinished upload, if any, is done."""
    now = _now()
    tx.execute(
        "INSERT INTO blobs(sha256, size, media_type, uploaded_by, device_id, created_at, touched_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET touched_at=excluded.touched_at",
        (sha256, size, media_type, user_id, device_id, now, now),
    )
    tx.execute("DELETE FROM uploads WHERE sha256=?", (sha256,))


def info(tx: Tx, sha256: str) -> Any:
    """(size, media_type) of a complete blob, read by name, or None."""
    return tx.execute("SELECT size, media_type FROM blobs WHERE sha256=?", (sha256,)).fetchone()


def stale(tx: Tx, sha256: str) -> bool:
    """Whether the file was last touched more than a day ago (``touch`` would write)."""
    return (
        tx.execute(
            "SELECT 1 FROM blobs WHERE sha256=? AND julianday(coalesce(touched_at, created_at)) < julianday('now') - 1",
            (sha256,),
        ).fetchone()
        is not None
    )


def touch(tx: Tx, sha256: str) -> None:
    """Not to be collected for a while; written at most once a day per file."""
    tx.execute(
        "UPDATE blobs SET touched_at=datetime('now') WHERE sha256=? "
        "AND julianday(coalesce(touched_at, created_at)) < julianday('now') - 1",
        (sha256,),
    )


def touch_upload(tx: Tx, sha256: str) -> bool:
    """Note a chunk of an upload already under way; False when there is no such upload."""
    if tx.execute("SELECT 1 FROM uploads WHERE sha256=?", (sha256,)).fetchone() is None:
        return False
    tx.execute("UPDATE uploads SET updated_at=datetime('now') WHERE sha256=?", (sha256,))
    return True


def in_flight(tx: Tx, device_id: str) -> int:
    """Bytes of unfinished uploads charged to the device (the sizes they began with)."""
    return int(tx.execute("SELECT coalesce(sum(size), 0) FROM uploads WHERE device_id=?", (device_id,)).fetchone()[0])


def begin_upload(tx: Tx, sha256: str, size: int, device_id: str, user_id: str) -> None:
    tx.execute(
        "INSERT INTO uploads(sha256, size, device_id, user_id, started_at, updated_at) "
        "VALUES (?, ?, ?, ?, datetime('now'), datetime('now'))",
        (sha256, size, device_id, user_id),
    )


def drop_upload(tx: Tx, sha256: str) -> None:
    tx.execute("DELETE FROM uploads WHERE sha256=?", (sha256,))


def expired_uploads(tx: Tx, cutoff: str) -> list[str]:
    """Unfinished uploads with no chunk since ``cutoff`` (ISO 8601), by hash."""
    return [
        sha
        for (sha,) in tx.execute(
            "SELECT sha256 FROM uploads WHERE julianday(updated_at) < julianday(?) ORDER BY sha256", (cutoff,)
        )
    ]


def drop_uploads(tx: Tx, shas: Iterable[str]) -> None:
    tx.executemany("DELETE FROM uploads WHERE sha256=?", [(sha,) for sha in shas])


def complete(tx: Tx) -> list[str]:
    """Every complete blob's hash, in order: what a copy of the store (backup, migrate) needs
    beside it in the blob store."""
    return [sha for (sha,) in tx.execute("SELECT sha256 FROM blobs ORDER BY sha256")]


def uploads(tx: Tx) -> set[str]:
    """Every unfinished upload's hash."""
    return {sha for (sha,) in tx.execute("SELECT sha256 FROM uploads")}


def collectable(tx: Tx, cutoff: str) -> list[str]:
    """Complete files untouched since ``cutoff``, with no upload under way, whose uploading
    device (if still live) has pushed since it uploaded them: what housekeeping may collect if
    no record names them (``named``)."""
    return [
        sha
        for (sha,) in tx.execute(
            "SELECT b.sha256 FROM blobs b WHERE julianday(coalesce(b.touched_at, b.created_at)) < julianday(?) "
            "AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.sha256=b.sha256) "
            "AND NOT EXISTS (SELECT 1 FROM devices v WHERE v.id=b.device_id AND v.revoked_at IS NULL "
            "                AND (v.last_seen_at IS NULL OR julianday(v.last_seen_at) <= julianday(b.created_at))) "
            "ORDER BY b.sha256",
            (cutoff,),
        )
    ]


def named(tx: Tx) -> set[str]:
    """Every file a record names: photos' and signatures' images (any event, deleted or not)
    and live drawings' files."""
    out = {
        sha
        for row in tx.execute(
            "SELECT json_extract(data, '$.payload.sha256'), json_extract(data, '$.payload.image_sha256') FROM records "
            "WHERE entity='event' AND json_extract(data, '$.payload.kind') IN ('photo', 'signature')"
        )
        for sha in row
    }
    out |= {
        sha
        for (sha,) in tx.execute(
            "SELECT json_extract(data, '$.sha256') FROM records WHERE entity='drawing' AND deleted=0"
        )
    }
    return out


def forget(tx: Tx, sha256: str) -> None:
    """The file is gone: drop its row."""
    tx.execute("DELETE FROM blobs WHERE sha256=?", (sha256,))
