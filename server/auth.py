"""Users, devices and tokens.

A device token is random (256 bits), shown once, and stored only as its SHA-256: a copy of the
database yields no usable token. Tokens are bound to one user and one device, so a lost laptop
is cut off by revoking its device alone. Enrollment tokens are one-time and expire.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
from typing import Iterable, NamedTuple

from sync_protocol import InvalidValue, NotFound, Unauthorized, uuid7

ROLES = ("engineer", "dispatcher", "supervisor", "admin")
OFFICE_ROLES = frozenset({"dispatcher", "supervisor", "admin"})
DEVICE_TOKEN_PREFIX = "fs_d_"
ENROLLMENT_TOKEN_PREFIX = "fs_e_"
ENROLLMENT_TTL = dt.timedelta(days=7)


class Principal(NamedTuple):
    """Who is calling: resolved from the bearer token on every request."""

    user_id: str
    user_name: str
    display_name: str
    role: str
    device_id: str

    @property
    def is_engineer(self) -> bool:
        return self.role == "engineer"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def add_user(conn: sqlite3.Connection, name: str, role: str, display_name: str = "", user_id: str | None = None) -> str:
    """Create a user, or return the existing one of that name (so fixture users can be enrolled)."""
    if role not in ROLES:
        raise InvalidValue(f"role must be one of {', '.join(ROLES)}", field="role")
    if not name or len(name) > 100:
        raise InvalidValue("name must be 1-100 characters", field="name")
    row = conn.execute("SELECT id, role FROM users WHERE name=?", (name,)).fetchone()
    if row is not None:
        if row["role"] != role:
            raise InvalidValue(f"user {name!r} exists with role {row['role']}", field="role")
        return str(row["id"])
    user_id = user_id or f"u-{uuid7()}"
    conn.execute(
        "INSERT INTO users(id, name, display_name, role, created_at, active) VALUES (?, ?, ?, ?, ?, 1)",
        (user_id, name, display_name or name, role, _now()),
    )
    return user_id


def find_user(conn: sqlite3.Connection, id_or_name: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM users WHERE (id=? OR name=?) AND active=1", (id_or_name, id_or_name)).fetchone()


def display_names(conn: sqlite3.Connection, user_ids: Iterable[str]) -> dict[str, str]:
    """The names people know these users by (unknown ids are left out)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = conn.execute(f"SELECT id, display_name FROM users WHERE id IN ({','.join('?' * len(ids))})", ids)
    return {r[0]: r[1] for r in rows}


def create_enrollment(conn: sqlite3.Connection, user_id: str) -> str:
    token = ENROLLMENT_TOKEN_PREFIX + secrets.token_urlsafe(24)
    now = dt.datetime.now(dt.timezone.utc)
    conn.execute(
        "INSERT INTO enrollments(token_hash, user_id, created_at, expires_at) VALUES (?,?,?,?)",
        (hash_token(token), user_id, now.isoformat(), (now + ENROLLMENT_TTL).isoformat()),
    )
    return token


def create_device(conn: sqlite3.Connection, user_id: str, name: str = "", platform: str = "") -> tuple[str, str]:
    """A new device for a user; returns (device_id, device_token)."""
    device_id = uuid7()
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO devices(id, user_id, name, platform, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (device_id, user_id, name, platform, hash_token(token), _now()),
    )
    return device_id, token


def enroll(
    conn: sqlite3.Connection, enrollment_token: str, device_name: str, platform: str
) -> tuple[str, str, sqlite3.Row]:
    """Spend a one-time enrollment token on a new device: (device_id, device_token, user)."""
    row = conn.execute("SELECT * FROM enrollments WHERE token_hash=?", (hash_token(enrollment_token),)).fetchone()
    if row is None or row["used_at"] is not None or row["revoked_at"] is not None or row["expires_at"] < _now():
        raise Unauthorized(
            "enrollment token unknown, expired, revoked or already used: ask for a new one", field="enrollment_token"
        )
    user = conn.execute("SELECT * FROM users WHERE id=? AND active=1", (row["user_id"],)).fetchone()
    if user is None:
        raise Unauthorized("the user of this enrollment token is disabled", field="enrollment_token")
    device_id, token = create_device(conn, user["id"], device_name, platform)
    conn.execute(
        "UPDATE enrollments SET used_at=?, device_id=? WHERE token_hash=?", (_now(), device_id, row["token_hash"])
    )
    return device_id, token, user


def authenticate(conn: sqlite3.Connection, authorization: str | None) -> Principal:
    """Resolve an ``Authorization: Bearer ...`` header, or raise ``Unauthorized``."""
    if not authorization:
        raise Unauthorized("missing bearer token", field="authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected 'Authorization: Bearer <token>'", field="authorization")
    row = conn.execute(
        "SELECT d.id AS device_id, d.revoked_at, u.id AS user_id, u.name, u.display_name, u.role, u.active "
        "FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash=?",
        (hash_token(token.strip()),),
    ).fetchone()
    if row is None:
        raise Unauthorized("unknown token", field="authorization")
    if row["revoked_at"] is not None:
        raise Unauthorized("this device has been revoked", field="authorization")
    if not row["active"]:
        raise Unauthorized("this user is disabled", field="authorization")
    return Principal(row["user_id"], row["name"], row["display_name"], row["role"], row["device_id"])


def disable_user(conn: sqlite3.Connection, name: str) -> dict[str, object]:
    """Disable a user (someone who left): every device token and office session of theirs is
    refused at once, and their unused enrollment tokens with them. The last active admin stays."""
    row = conn.execute("SELECT id, name, role, active FROM users WHERE id=? OR name=?", (name, name)).fetchone()
    if row is None:
        raise NotFound(f"no user {name}", field="name")
    if (
        row["role"] == "admin"
        and row["active"]
        and conn.execute("SELECT count(*) FROM users WHERE role='admin' AND active=1").fetchone()[0] <= 1
    ):
        raise InvalidValue(f"{name} is the last active admin: add another admin first", field="name")
    conn.execute("UPDATE users SET active=0 WHERE id=?", (row["id"],))
    devices = conn.execute(
        "SELECT count(*) FROM devices WHERE user_id=? AND revoked_at IS NULL", (row["id"],)
    ).fetchone()[0]
    return {"user_id": row["id"], "name": row["name"], "disabled": True, "devices_refused": devices}


def enrollment_id(token_hash: str) -> str:
    """How an enrollment is named without its token (which is stored only as a hash)."""
    return token_hash[:12]


def list_enrollments(conn: sqlite3.Connection, user: str | None = None) -> list[dict[str, object]]:
    """Enrollment tokens and their state (unused, used, expired, revoked), newest first."""
    sql = (
        "SELECT e.token_hash, u.name, e.created_at, e.expires_at, e.used_at, e.revoked_at FROM enrollments e "
        "JOIN users u ON u.id = e.user_id"
    )
    args: tuple[str, ...] = ()
    if user:
        sql, args = sql + " WHERE u.id=? OR u.name=?", (user, user)
    now = _now()
    return [
        {
            "id": enrollment_id(r[0]),
            "user": r[1],
            "created_at": r[2],
            "expires_at": r[3],
            "state": "revoked" if r[5] else "used" if r[4] else "expired" if r[3] < now else "unused",
        }
        for r in conn.execute(sql + " ORDER BY e.created_at DESC", args)
    ]


def revoke_enrollments(conn: sqlite3.Connection, token_or_id: str | None = None, user: str | None = None) -> list[str]:
    """Cancel unused enrollment tokens: one, by the token itself or the id ``list`` shows, or all
    of a user's. Returns the ids revoked."""
    if user:
        found = conn.execute("SELECT id FROM users WHERE id=? OR name=?", (user, user)).fetchone()
        if found is None:
            raise NotFound(f"no user {user}", field="user")
        rows = conn.execute(
            "SELECT token_hash FROM enrollments WHERE user_id=? AND used_at IS NULL AND revoked_at IS NULL",
            (found["id"],),
        ).fetchall()
    else:
        key = (token_or_id or "").strip()
        if key.startswith(ENROLLMENT_TOKEN_PREFIX):
            rows = conn.execute(
                "SELECT token_hash, used_at, revoked_at FROM enrollments WHERE token_hash=?", (hash_token(key),)
            ).fetchall()
        elif len(key) >= 8 and all(c in "0123456789abcdef" for c in key):
            rows = conn.execute(
                "SELECT token_hash, used_at, revoked_at FROM enrollments WHERE token_hash LIKE ?", (key + "%",)
            ).fetchall()
        else:
            raise InvalidValue(
                "give the enrollment token, or its id (8+ hex characters, from `field-server enrollment list`)",
                field="enrollment",
            )
        if not rows:
            raise NotFound(f"no enrollment {key[:16]}", field="enrollment")
        if len(rows) > 1:
            raise InvalidValue(f"{key} names {len(rows)} enrollments: give more of its id", field="enrollment")
        if rows[0]["used_at"] is not None:
            raise InvalidValue(
                "this enrollment token was already used: revoke the device it made (`field-server device revoke`)",
                field="enrollment",
            )
    conn.executemany(
        "UPDATE enrollments SET revoked_at=? WHERE token_hash=? AND revoked_at IS NULL",
        [(_now(), r["token_hash"]) for r in rows],
    )
    return [enrollment_id(r["token_hash"]) for r in rows]


def revoke_device(conn: sqlite3.Connection, device_id: str) -> None:
    cur = conn.execute("UPDATE devices SET revoked_at=? WHERE id=? AND revoked_at IS NULL", (_now(), device_id))
    if cur.rowcount == 0:
        exists = conn.execute("SELECT 1 FROM devices WHERE id=?", (device_id,)).fetchone()
        if not exists:
            raise NotFound(f"no device {device_id}", field="device")
