"""Who may use which office page or API endpoint: one guard, roles named per handler.

Handlers declare ``opt={"roles": DISPATCH}`` (the router's default is ``READ``; the role sets and
``check_role`` are ``server.permissions``', which push and assign use too). The guard runs
before the body is read, so a caller without a token gets ``401`` and an engineer ``403`` no
matter what they sent. API callers present ``Authorization: Bearer``; a signed-in browser's
session cookie is accepted too, but on the API only for reads (the board polls
``/api/v1/jobs``): a write with nothing but a cookie would need CSRF protection, which the API,
meant for integrations, does not do. Pages take the session (CSRF-protected) and nothing else.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from sync_protocol import Unauthorized
from sync_protocol.i18n import N_

from .. import auth
from ..auth import Principal
from ..permissions import AUDIT, DISPATCH, READ, REVIEW, check_role
from ..state import ServerState
from .security import check_bound_csrf, check_origin
from .sessions import SESSION_DEVICE, principal_of_device

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_PRINCIPAL = "office_principal"
__all__ = ["AUDIT", "DISPATCH", "READ", "REVIEW", "api_guard", "check_role", "page_guard", "principal", "server_state"]


def server_state(connection: ASGIConnection[Any, Any, Any, Any]) -> ServerState:
    return connection.app.state.fieldsync  # type: ignore[no-any-return]


def _resolve(state: ServerState, header: str | None, device_id: str | None) -> Principal:
    """The caller, by token or by session: one statement each, so read as ``http.caller`` reads
    a sync request's token (``Store.glance``: no transaction around it, on the event loop)."""
    if header:
        return state.db.glance(lambda c: auth.authenticate(c, header))
    if device_id:
        return state.db.glance(lambda c: principal_of_device(c, device_id))
    raise Unauthorized(N_("sign in first: a bearer token or an office session is required"), field="authorization")


def _session_device(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    if "session" not in connection.scope:
        return None
    device = connection.session.get(SESSION_DEVICE)
    return str(device) if device else None


async def api_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Bearer token, or (reads only) the browser's session; then the handler's roles. A write
    from another site's page is refused by its origin."""
    if connection.scope.get("method") not in _SAFE:
        check_origin(connection)
    header = connection.headers.get("authorization")
    device = _session_device(connection) if connection.scope.get("method") in _SAFE else None
    state = server_state(connection)
    principal = await anyio.to_thread.run_sync(lambda: _resolve(state, header, device))
    connection.state[_PRINCIPAL] = check_role(principal, handler.opt.get("roles", READ))


async def page_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The session only; pages marked ``public`` (sign-in) let anyone through. Every form post
    must come from this origin, and a signed-in one carry its session's CSRF token."""
    write = connection.scope.get("method") not in _SAFE
    if write:
        check_origin(connection)
    if handler.opt.get("public"):
        return
    state = server_state(connection)
    device = _session_device(connection)
    principal = await anyio.to_thread.run_sync(lambda: _resolve(state, None, device))
    connection.state[_PRINCIPAL] = check_role(principal, handler.opt.get("roles", READ))
    if write:
        check_bound_csrf(connection)


def principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller the guard let in."""
    return connection.state[_PRINCIPAL]  # type: ignore[no-any-return]
