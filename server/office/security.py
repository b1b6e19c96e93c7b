"""Session and CSRF settings of the office web app.

Sessions are server-side (litestar's ``ServerSideSessionConfig`` over a file store in the data
directory, so a restart or a second worker process does not sign everyone out); the cookie
holds only a random id and is HttpOnly and SameSite=Lax. Signing in rotates that id, so a
session id planted before sign-in is worthless after it. Every form POST carries litestar's
CSRF token (double-submit cookie, HMAC-signed with a key derived from the store's secret).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.file import FileStore
from litestar.types import Empty

SESSION_STORE = "office_sessions"
SESSION_COOKIE = "fieldsync_session"
CSRF_COOKIE = "fieldsync_csrf"
SESSION_MAX_AGE = 12 * 3600          # a working day and then some
_ROTATE = "fieldsync.rotate_session"


def rotate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Give this connection's session a fresh id when the response is sent (call on sign-in)."""
    connection.scope[_ROTATE] = True  # type: ignore[literal-required]


class RotatingSessionBackend(ServerSideSessionBackend):
    """Server-side sessions whose id is replaced on sign-in (no session fixation)."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        if connection.scope.get(_ROTATE):
            fresh = connection.scope.get("fieldsync.fresh_session_id")
            if not fresh:
                fresh = self.generate_session_id()
                connection.scope["fieldsync.fresh_session_id"] = fresh
            return str(fresh)
        return super().get_session_id(connection)


    async def store_in_message(self, scope_session: Any, message: Any,
                               connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        """Store nothing for a visitor with no session: an anonymous page view or an API call
        with a bearer token must not leave a session file behind."""
        if not scope_session:
            if connection.cookies.get(self.config.key) is None:
                return
            scope_session = Empty
        await super().store_in_message(scope_session, message, connection)


class OfficeSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def session_config() -> OfficeSessionConfig:
    return OfficeSessionConfig(key=SESSION_COOKIE, max_age=SESSION_MAX_AGE, httponly=True,
                               samesite="lax", store=SESSION_STORE, renew_on_access=True)


def session_store(data_dir: Path) -> FileStore:
    return FileStore(data_dir / "office-sessions", create_directories=True)


def csrf_config(server_secret: str) -> CSRFConfig:
    key = hmac.new(server_secret.encode(), b"fieldsync office csrf", hashlib.sha256).hexdigest()
    return CSRFConfig(secret=key, cookie_name=CSRF_COOKIE, header_name="x-csrftoken",
                      cookie_httponly=False, cookie_samesite="lax")
