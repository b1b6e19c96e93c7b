"""Session and CSRF settings of the office web app.

Sessions are server-side (litestar's ``ServerSideSessionConfig`` over a file store in the data
directory, so a restart or a second worker process does not sign everyone out); the cookie
holds only a random id and is HttpOnly and SameSite=Lax, and ``Secure`` when the server sits
behind TLS (``[security] secure_cookies``). Signing in rotates that id, so a session id planted
before sign-in is worthless after it; signing out deletes the session and expires the cookie.

Every form POST carries litestar's CSRF token (double-submit cookie, HMAC-signed with a key
derived from the store's secret), and that token is bound to the session: signing in issues a
fresh one and the session remembers it, so a token planted in the browser (another site setting
cookies for this one) or taken from another session is refused (``bind_csrf``,
``check_bound_csrf``). Writes from another origin are refused by their ``Origin`` header
(``check_origin``).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from urllib.parse import urlsplit

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_token
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.file import FileStore
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from sync_protocol import Forbidden
from sync_protocol.i18n import N_

SESSION_STORE = "office_sessions"
SESSION_COOKIE = "fieldsync_session"
CSRF_COOKIE = "fieldsync_csrf"
SESSION_MAX_AGE = 12 * 3600  # a working day and then some
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

    async def store_in_message(
        self, scope_session: Any, message: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        """Store nothing for a visitor with no session: an anonymous page view or an API call
        with a bearer token must not leave a session file behind. An ended session is deleted
        and its cookie expired at once (litestar's own answer keeps a "null" cookie for the
        session's whole Max-Age)."""
        if scope_session is Empty or not scope_session:
            if connection.cookies.get(self.config.key) is None:
                return
            store = self.config.get_store_from_app(connection.scope["app"])
            await self.delete(self.get_session_id(connection), store=store)
            headers = MutableScopeHeaders.from_message(message)
            headers.add(
                "Set-Cookie",
                Cookie(
                    key=self.config.key,
                    value="",
                    path=self.config.path,
                    max_age=0,
                    expires=0,
                    httponly=True,
                    secure=self.config.secure,
                    samesite=self.config.samesite,
                ).to_header(header=""),
            )
            return
        await super().store_in_message(scope_session, message, connection)


class OfficeSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def session_config(secure: bool = False) -> OfficeSessionConfig:
    return OfficeSessionConfig(
        key=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        secure=secure,
        samesite="lax",
        store=SESSION_STORE,
        renew_on_access=True,
    )


def session_store(data_dir: Path) -> FileStore:
    return FileStore(data_dir / "office-sessions", create_directories=True)


def csrf_config(server_secret: str, secure: bool = False) -> CSRFConfig:
    return CSRFConfig(
        secret=_csrf_key(server_secret),
        cookie_name=CSRF_COOKIE,
        header_name="x-csrftoken",
        cookie_httponly=False,
        cookie_samesite="lax",
        cookie_secure=secure,
    )


def _csrf_key(server_secret: str) -> str:
    return hmac.new(server_secret.encode(), b"fieldsync office csrf", hashlib.sha256).hexdigest()


_CSRF_BOUND = "csrf"  # the session's key for the CSRF token it was issued


def bind_csrf(connection: ASGIConnection[Any, Any, Any, Any], server_secret: str, secure: bool) -> Cookie:
    """On sign-in: a fresh CSRF token for the new session, remembered in it. Returns the cookie
    the answer must set; the page rendered now carries the same token."""
    token = generate_csrf_token(_csrf_key(server_secret))
    connection.session[_CSRF_BOUND] = token[:CSRF_SECRET_LENGTH]
    ScopeState.from_scope(connection.scope).csrf_token = token
    return Cookie(key=CSRF_COOKIE, value=token, path="/", httponly=False, secure=secure, samesite="lax")


def check_bound_csrf(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """A signed-in write must carry the CSRF token its session was issued (litestar's middleware
    has already checked that the form's token matches the cookie and is ours)."""
    cookie = connection.cookies.get(CSRF_COOKIE, "")
    bound = connection.session.get(_CSRF_BOUND)
    if not bound or not hmac.compare_digest(cookie[:CSRF_SECRET_LENGTH], str(bound)):
        raise Forbidden(N_("This form did not come from your session. Reload the page and try again."), field="csrf")


def check_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """A write from a page of another site is refused: its ``Origin`` (sent by every browser on
    a POST) must name this server; a browser's ``Sec-Fetch-Site: cross-site`` is refused too. A
    client that sends neither (an integration, a script) is judged by its token alone."""
    origin = connection.headers.get("origin")
    if origin is not None:
        host = connection.headers.get("host", "")
        if origin == "null" or not host or urlsplit(origin).netloc.lower() != host.lower():
            raise Forbidden(N_("a write from {origin} is not accepted here", origin=origin), field="origin")
    elif connection.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden(N_("a write from another site is not accepted here"), field="origin")
