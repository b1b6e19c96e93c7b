"""Users, devices and enrollment tokens; each device's push high-water mark and stored answers.

Tokens arrive here already hashed (``auth.hash_token``): the store never sees a usable token.
A device's ``high_seq`` is kept forever (it is tiny); ``applied`` holds each mutation's answer
for a retention period (``housekeeping``), so a retried batch gets the same answers.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from . import changes
from .base import Tx, bulk_insert, is_postgres, one_of

Row = Any  # a row read by name or position (``sqlite3.Row``)


# Users


def user_by_name(tx: Tx, name: str) -> Row | None:
    return tx.execute("SELECT id, role FROM users WHERE name=?", (name,)).fetchone()


def insert_user(tx: Tx, user_id: str, name: str, display_name: str, role: str, created_at: str) -> None:
    tx.execute(
        "INSERT INTO users(id, name, display_name, role, created_at, active) VALUES (?, ?, ?, ?, ?, 1)",
        (user_id, name, display_name, role, created_at),
    )


def find_active_user(tx: Tx, id_or_name: str) -> Row | None:
    return tx.execute("SELECT * FROM users WHERE (id=? OR name=?) AND active=1", (id_or_name, id_or_name)).fetchone()


def active_user(tx: Tx, user_id: str) -> Row | None:
    return tx.execute("SELECT * FROM users WHERE id=? AND active=1", (user_id,)).fetchone()


def find_user_any(tx: Tx, id_or_name: str) -> Row | None:
    """A user by id or name, active or not."""
    return tx.execute(
        "SELECT id, name, role, active FROM users WHERE id=? OR name=?", (id_or_name, id_or_name)
    ).fetchone()


def display_names(tx: Tx, user_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Display names by user id: of ``user_ids`` (unknown ones left out), or of every user."""
    if user_ids is None:
        return {r[0]: r[1] for r in tx.execute("SELECT id, display_name FROM users")}
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    among, params = one_of(tx, "id", ids)
    rows = tx.execute(f"SELECT id, display_name FROM users WHERE {among}", params)
    return {r[0]: r[1] for r in rows}


def all_users(tx: Tx) -> list[Row]:
    """(id, name, display_name, role) of every user."""
    return list(tx.execute("SELECT id, name, display_name, role FROM users").fetchall())


def active_engineers(tx: Tx) -> list[tuple[str, str, str]]:
    """(id, name, display name) of every active engineer, by display name."""
    return [
        (r[0], r[1], r[2])
        for r in tx.execute(
            "SELECT id, name, display_name FROM users WHERE role='engineer' AND active=1 ORDER BY display_name"
        )
    ]


def has_admin(tx: Tx) -> bool:
    return tx.execute("SELECT 1 FROM users WHERE role='admin'").fetchone() is not None


def active_admins(tx: Tx) -> int:
    return int(tx.execute("SELECT count(*) FROM users WHERE role='admin' AND active=1").fetchone()[0])


def deactivate_user(tx: Tx, user_id: str) -> None:
    tx.execute("UPDATE users SET active=0 WHERE id=?", (user_id,))


# Devices


def insert_device(
    tx: Tx, device_id: str, user_id: str, name: str, platform: str, token_hash: str, created_at: str
) -> None:
    tx.execute(
        "INSERT INTO devices(id, user_id, name, platform, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (device_id, user_id, name, platform, token_hash, created_at),
    )


_PRINCIPAL = (
    "SELECT d.id AS device_id, d.revoked_at, u.id AS user_id, u.name, u.display_name, u.role, u.active "
    "FROM devices d JOIN users u ON u.id = d.user_id WHERE "
)
_PRINCIPAL_PULLING = _PRINCIPAL.replace(" FROM devices", f", {changes.QUIET_STATE} FROM devices")


def principal_by_token(tx: Tx, token_hash: str, pull_state: bool = False) -> Row | None:
    """The device and user behind a token: (device_id, revoked_at, user_id, name, display_name,
    role, active), and with ``pull_state`` the device's pull state too (``changes.QUIET_STATE``)."""
    return tx.execute((_PRINCIPAL_PULLING if pull_state else _PRINCIPAL) + "d.token_hash=?", (token_hash,)).fetchone()


def principal_by_device(tx: Tx, device_id: str) -> Row | None:
    """As ``principal_by_token``, by device id (an office session remembers its device)."""
    return tx.execute(_PRINCIPAL + "d.id=?", (device_id,)).fetchone()


def live_devices_of(tx: Tx, user_id: str) -> int:
    return int(
        tx.execute("SELECT count(*) FROM devices WHERE user_id=? AND revoked_at IS NULL", (user_id,)).fetchone()[0]
    )


def revoke_device(tx: Tx, device_id: str, at: str) -> bool:
    """Revoke a device; False when there is no such live device."""
    cur = tx.execute("UPDATE devices SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (at, device_id))
    return bool(cur.rowcount)


def device_exists(tx: Tx, device_id: str) -> bool:
    return tx.execute("SELECT 1 FROM devices WHERE id=?", (device_id,)).fetchone() is not None


def list_devices(tx: Tx) -> list[dict[str, Any]]:
    """Every device with its user's name, oldest first (``field-server device list``)."""
    rows = tx.execute(
        "SELECT d.id, u.name AS user, d.name, d.platform, d.created_at, d.last_seen_at, d.revoked_at, "
        "d.high_seq FROM devices d JOIN users u ON u.id=d.user_id ORDER BY d.created_at"
    ).fetchall()
    return [dict(r) for r in rows]


# Enrollments


def insert_enrollment(tx: Tx, token_hash: str, user_id: str, created_at: str, expires_at: str) -> None:
    tx.execute(
        "INSERT INTO enrollments(token_hash, user_id, created_at, expires_at) VALUES (?,?,?,?)",
        (token_hash, user_id, created_at, expires_at),
    )


def enrollment(tx: Tx, token_hash: str) -> Row | None:
    return tx.execute("SELECT * FROM enrollments WHERE token_hash=?", (token_hash,)).fetchone()


def enrollment_role(tx: Tx, token_hash: str) -> str | None:
    """The role of the user an enrollment token is for."""
    row = tx.execute(
        "SELECT u.role FROM enrollments e JOIN users u ON u.id = e.user_id WHERE e.token_hash=?", (token_hash,)
    ).fetchone()
    return None if row is None else str(row[0])


def use_enrollment(tx: Tx, token_hash: str, device_id: str, at: str) -> None:
    tx.execute("UPDATE enrollments SET used_at=?, device_id=? WHERE token_hash=?", (at, device_id, token_hash))


def list_enrollments(tx: Tx, user: str | None = None) -> list[Row]:
    """(token_hash, user name, created_at, expires_at, used_at, revoked_at), newest first."""
    sql = (
        "SELECT e.token_hash, u.name, e.created_at, e.expires_at, e.used_at, e.revoked_at FROM enrollments e "
        "JOIN users u ON u.id = e.user_id"
    )
    args: tuple[str, ...] = ()
    if user:
        sql, args = sql + " WHERE u.id=? OR u.name=?", (user, user)
    return list(tx.execute(sql + " ORDER BY e.created_at DESC", args).fetchall())


def unused_enrollments_of(tx: Tx, user_id: str) -> list[Row]:
    return list(
        tx.execute(
            "SELECT token_hash, used_at, revoked_at FROM enrollments WHERE user_id=? AND used_at IS NULL "
            "AND revoked_at IS NULL",
            (user_id,),
        ).fetchall()
    )


def enrollments_by_hash(tx: Tx, token_hash: str) -> list[Row]:
    return list(
        tx.execute(
            "SELECT token_hash, used_at, revoked_at FROM enrollments WHERE token_hash=?", (token_hash,)
        ).fetchall()
    )


def enrollments_by_prefix(tx: Tx, prefix: str) -> list[Row]:
    return list(
        tx.execute(
            "SELECT token_hash, used_at, revoked_at FROM enrollments WHERE token_hash LIKE ?", (prefix + "%",)
        ).fetchall()
    )


def revoke_enrollments(tx: Tx, token_hashes: Sequence[str], at: str) -> None:
    tx.executemany(
        "UPDATE enrollments SET revoked_at=? WHERE token_hash=? AND revoked_at IS NULL",
        [(at, token_hash) for token_hash in token_hashes],
    )


# Push: the high-water mark and the stored answers


def high_water(tx: Tx, device_id: str, lock: bool = False) -> tuple[int, str | None]:
    """(high_seq, high_hlc): the highest applied push seq of the device and its mutation's HLC.

    With ``lock`` (a push) the row stays locked until the transaction ends: a retry of the same
    batch that lands on another server process waits here, then reads the high-water mark and
    the answers the first one committed (SQLite's one writer needs no lock)."""
    sql = "SELECT high_seq, high_hlc FROM devices WHERE id=?"
    row = tx.execute(sql + (" FOR UPDATE" if lock and is_postgres(tx) else ""), (device_id,)).fetchone()
    return int(row[0]), row[1]


def set_high_water(tx: Tx, device_id: str, high_seq: int, high_hlc: str | None, seen_at: str) -> None:
    tx.execute(
        "UPDATE devices SET high_seq=?, high_hlc=?, last_seen_at=? WHERE id=?", (high_seq, high_hlc, seen_at, device_id)
    )


_ANSWER_COLUMNS = {"device_id": "text", "seq": "bigint", "answer": "bytea", "applied_at": "text"}


def store_answers(tx: Tx, device_id: str, answers: Iterable[tuple[int, bytes]], at: str) -> None:
    """Keep each mutation's encoded answer, by seq, for retried batches."""
    rows = [(device_id, seq, answer, at) for seq, answer in answers]
    bulk_insert(tx, "applied", _ANSWER_COLUMNS, rows)


def stored_answer(tx: Tx, device_id: str, seq: int) -> bytes | None:
    row = tx.execute("SELECT answer FROM applied WHERE device_id=? AND seq=?", (device_id, seq)).fetchone()
    return None if row is None else bytes(row[0])
