"""Office sessions in the database, for several server processes: a session made on one
process is read on the next request, which may land on another (``office.db_sessions``).
Expiry is a Unix time; an expired session reads as none and is deleted on the way."""

from __future__ import annotations

from .base import Tx


def get(tx: Tx, key: str, now: float) -> tuple[bytes, float | None] | None:
    """(value, expires_at) of a live session, or None."""
    row = tx.execute("SELECT value, expires_at FROM office_sessions WHERE key=?", (key,)).fetchone()
    if row is None or (row[1] is not None and row[1] <= now):
        return None
    return bytes(row[0]), row[1]


def put(tx: Tx, key: str, value: bytes, expires_at: float | None) -> None:
    tx.execute(
        "INSERT INTO office_sessions(key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
        "value=excluded.value, expires_at=excluded.expires_at",
        (key, value, expires_at),
    )


def delete(tx: Tx, key: str) -> None:
    tx.execute("DELETE FROM office_sessions WHERE key=?", (key,))


def delete_all(tx: Tx) -> None:
    tx.execute("DELETE FROM office_sessions")


def delete_expired(tx: Tx, now: float) -> None:
    tx.execute("DELETE FROM office_sessions WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
