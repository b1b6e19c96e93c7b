"""Signing in to the office web app with a device or enrollment token.

Office staff hold the same kind of token as a laptop. Pasting a device token signs the browser
in as that device; pasting a one-time enrollment token enrolls the browser as a new device and
shows its device token once, for the next sign-in. The session (server-side, cookie HttpOnly and
SameSite=Lax) remembers only the device id: every request re-checks that the device is not
revoked and its user still active, so revoking a device ends its browser sessions at once.

An engineer's token never opens a session, and an engineer's enrollment token is refused
*before* it is spent, so the engineer can still enroll their laptop with it.
"""

from __future__ import annotations

from typing import NamedTuple

from sync_protocol import Forbidden, Unauthorized
from sync_protocol.i18n import N_

from .. import auth
from ..auth import OFFICE_ROLES, Principal
from ..storage import Tx, devices

SESSION_DEVICE = "device_id"


class SignIn(NamedTuple):
    principal: Principal
    new_device_token: str | None  # set when an enrollment token was exchanged: show it once


def _refuse_engineer(role: str) -> None:
    if role not in OFFICE_ROLES:
        raise Forbidden(
            N_("engineers work in the field client; the office pages are for dispatchers and supervisors"),
            field="token",
        )


def sign_in(conn: Tx, token: str, browser: str = "office browser") -> SignIn:
    """Check a pasted token (the caller holds the write transaction: enrolling writes)."""
    token = token.strip()
    if not token:
        raise Unauthorized(N_("paste your device or enrollment token"), field="token")
    if token.startswith(auth.ENROLLMENT_TOKEN_PREFIX):
        role = devices.enrollment_role(conn, auth.hash_token(token))
        if role is not None:
            _refuse_engineer(role)
        device_id, device_token, user = auth.enroll(conn, token, browser[:100], "web")
        return SignIn(Principal(user["id"], user["name"], user["display_name"], user["role"], device_id), device_token)
    try:
        principal = auth.authenticate(conn, f"Bearer {token}")
    except Unauthorized as exc:
        raise Unauthorized(exc.message, field="token") from None
    _refuse_engineer(principal.role)
    return SignIn(principal, None)


def principal_of_device(conn: Tx, device_id: str) -> Principal:
    """The signed-in user behind a session's device, or ``Unauthorized`` (revoked, disabled, gone)."""
    row = devices.principal_by_device(conn, device_id)
    if row is None or row["revoked_at"] is not None or not row["active"]:
        raise Unauthorized(N_("your session has ended: sign in again"), field="session")
    return Principal(row["user_id"], row["name"], row["display_name"], row["role"], row["device_id"])
