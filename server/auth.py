"""Users, devices and tokens.

A device token is random (256 bits), shown once, and stored only as its SHA-256: a copy of the
database yields no usable token. Tokens are bound to one user and one device, so a lost laptop
is cut off by revoking its device alone. Enrollment tokens are one-time and expire.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, Iterable

from sync_protocol import InvalidValue, NotFound, Unauthorized, uuid7

from .principal import OFFICE_ROLES, ROLES, Principal
from .storage import Tx, devices

__all__ = ["OFFICE_ROLES", "ROLES", "Principal"]
DEVICE_TOKEN_PREFIX = "fs_d_"
ENROLLMENT_TOKEN_PREFIX = "fs_e_"
ENROLLMENT_TTL = dt.timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def add_user(conn: Tx, name: str, role: str, display_name: str = "", user_id: str | None = None) -> str:
    """Create a user, or return the existing one of that name (so fixture users can be enrolled)."""
    if role not in ROLES:
        raise InvalidValue(f"role must be one of {', '.join(ROLES)}", field="role")
    if not name or len(name) > 100:
        raise InvalidValue("name must be 1-100 characters", field="name")
    row = devices.user_by_name(conn, name)
    if row is not None:
        if row["role"] != role:
            raise InvalidValue(f"user {name!r} exists with role {row['role']}", field="role")
        return str(row["id"])
    user_id = user_id or f"u-{uuid7()}"
    devices.insert_user(conn, user_id, name, display_name or name, role, _now())
    return user_id


def find_user(conn: Tx, id_or_name: str) -> Any | None:
    return devices.find_active_user(conn, id_or_name)


def display_names(conn: Tx, user_ids: Iterable[str]) -> dict[str, str]:
    """The names people know these users by (unknown ids are left out)."""
    return devices.display_names(conn, user_ids)


def create_enrollment(conn: Tx, user_id: str) -> str:
    token = ENROLLMENT_TOKEN_PREFIX + secrets.token_urlsafe(24)
    now = dt.datetime.now(dt.timezone.utc)
    devices.insert_enrollment(conn, hash_token(token), user_id, now.isoformat(), (now + ENROLLMENT_TTL).isoformat())
    return token


def create_device(conn: Tx, user_id: str, name: str = "", platform: str = "") -> tuple[str, str]:
    """A new device for a user; returns (device_id, device_token)."""
    device_id = uuid7()
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    devices.insert_device(conn, device_id, user_id, name, platform, hash_token(token), _now())
    return device_id, token


def enroll(conn: Tx, enrollment_token: str, device_name: str, platform: str) -> tuple[str, str, Any]:
    """Spend a one-time enrollment token on a new device: (device_id, device_token, user)."""
    row = devices.enrollment(conn, hash_token(enrollment_token))
    if row is None or row["used_at"] is not None or row["revoked_at"] is not None or row["expires_at"] < _now():
        raise Unauthorized(
            "enrollment token unknown, expired, revoked or already used: ask for a new one", field="enrollment_token"
        )
    user = devices.active_user(conn, row["user_id"])
    if user is None:
        raise Unauthorized("the user of this enrollment token is disabled", field="enrollment_token")
    device_id, token = create_device(conn, user["id"], device_name, platform)
    devices.use_enrollment(conn, row["token_hash"], device_id, _now())
    return device_id, token, user


def authenticate(conn: Tx, authorization: str | None) -> Principal:
    """Resolve an ``Authorization: Bearer ...`` header, or raise ``Unauthorized``."""
    return _principal(devices.principal_by_token(conn, _token_hash(authorization)))


def authenticate_pulling(conn: Tx, authorization: str | None) -> tuple[Principal, Any]:
    """``authenticate``, and the device's pull state read by the same statement (what
    ``pull.unchanged`` needs): a device that is up to date costs one statement in all."""
    row = devices.principal_by_token(conn, _token_hash(authorization), pull_state=True)
    return _principal(row), row


def _token_hash(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing bearer token", field="authorization")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected 'Authorization: Bearer <token>'", field="authorization")
    return hash_token(token.strip())


def _principal(row: Any) -> Principal:
    if row is None:
        raise Unauthorized("unknown token", field="authorization")
    if row["revoked_at"] is not None:
        raise Unauthorized("this device has been revoked", field="authorization")
    if not row["active"]:
        raise Unauthorized("this user is disabled", field="authorization")
    return Principal(row["user_id"], row["name"], row["display_name"], row["role"], row["device_id"])


def disable_user(conn: Tx, name: str) -> dict[str, object]:
    """Disable a user (someone who left): every device token and office session of theirs is
    refused at once, and their unused enrollment tokens with them. The last active admin stays."""
    row = devices.find_user_any(conn, name)
    if row is None:
        raise NotFound(f"no user {name}", field="name")
    if row["role"] == "admin" and row["active"] and devices.active_admins(conn) <= 1:
        raise InvalidValue(f"{name} is the last active admin: add another admin first", field="name")
    devices.deactivate_user(conn, row["id"])
    refused = devices.live_devices_of(conn, row["id"])
    return {"user_id": row["id"], "name": row["name"], "disabled": True, "devices_refused": refused}


def enrollment_id(token_hash: str) -> str:
    """How an enrollment is named without its token (which is stored only as a hash)."""
    return token_hash[:12]


def list_enrollments(conn: Tx, user: str | None = None) -> list[dict[str, object]]:
    """Enrollment tokens and their state (unused, used, expired, revoked), newest first."""
    now = _now()
    return [
        {
            "id": enrollment_id(r[0]),
            "user": r[1],
            "created_at": r[2],
            "expires_at": r[3],
            "state": "revoked" if r[5] else "used" if r[4] else "expired" if r[3] < now else "unused",
        }
        for r in devices.list_enrollments(conn, user)
    ]


def revoke_enrollments(conn: Tx, token_or_id: str | None = None, user: str | None = None) -> list[str]:
    """Cancel unused enrollment tokens: one, by the token itself or the id ``list`` shows, or all
    of a user's. Returns the ids revoked."""
    if user:
        found = devices.find_user_any(conn, user)
        if found is None:
            raise NotFound(f"no user {user}", field="user")
        rows = devices.unused_enrollments_of(conn, found["id"])
    else:
        key = (token_or_id or "").strip()
        if key.startswith(ENROLLMENT_TOKEN_PREFIX):
            rows = devices.enrollments_by_hash(conn, hash_token(key))
        elif len(key) >= 8 and all(c in "0123456789abcdef" for c in key):
            rows = devices.enrollments_by_prefix(conn, key)
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
    devices.revoke_enrollments(conn, [r["token_hash"] for r in rows], _now())
    return [enrollment_id(r["token_hash"]) for r in rows]


def revoke_device(conn: Tx, device_id: str) -> None:
    if not devices.revoke_device(conn, device_id, _now()) and not devices.device_exists(conn, device_id):
        raise NotFound(f"no device {device_id}", field="device")
