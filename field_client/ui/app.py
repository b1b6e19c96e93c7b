"""The litestar application of ``field ui``: its state, how a page is rendered, the routes.

Every page is rendered by ``page()``: the reader's locale (their choice in the app, else their
browser's ``Accept-Language``, else the ``--lang`` setting), the session's CSRF token for the
forms, the messages left by the last action, and the laptop's sync state for the header.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.static_files import create_static_files_router

from ..errors import UnknownRecord
from ..workbench import Workbench
from .gate import SESSION_KEY, Gate, GateMiddleware, Session
from .i18n import Catalogs
from .syncing import SyncRunner

STATIC = Path(__file__).resolve().parent / "static"
HTML = "text/html"   # litestar adds the charset
AnyRequest = Request[Any, Any, Any]
log = logging.getLogger("fieldsync.ui")


@dataclass
class UiState:
    bench: Workbench
    gate: Gate
    catalogs: Catalogs
    runner: SyncRunner


def ui_of(request: AnyRequest) -> UiState:
    return request.app.state.ui  # type: ignore[no-any-return]


def session_of(request: AnyRequest) -> Session:
    return request.scope[SESSION_KEY]  # type: ignore[literal-required,no-any-return]


def locale_of(request: AnyRequest) -> str:
    session = request.scope.get(SESSION_KEY)  # type: ignore[misc]
    return ui_of(request).catalogs.negotiate(request.headers.get("accept-language"),
                                             session.locale if session else None)


def gettext_of(request: AnyRequest) -> Any:
    return ui_of(request).catalogs.gettext(locale_of(request))


def flash(request: AnyRequest, message: str, level: str = "ok") -> None:
    session_of(request).flashes.append((level, message))


def header_state(ui: UiState) -> dict[str, Any]:
    """The strip on every page: pending changes, last sync, online or not (as last known)."""
    status = ui.bench.client.status()
    sync = ui.runner.state()
    return {"pending": status["pending"], "last_sync_at": status["last_sync_at"], "user": status["user_name"],
            "reachable": sync["reachable"], "running": sync["running"], "rejected": status["rejected"],
            "conflicts": status["open_conflicts"]}


def page(request: AnyRequest, template: str, status: int = 200, **context: Any) -> Response[str]:
    ui = ui_of(request)
    session = session_of(request)
    flashes, session.flashes = session.flashes, []
    html = ui.catalogs.render(locale_of(request), template, csrf=session.csrf, flashes=flashes,
                              header=header_state(ui), here=request.url.path, **context)
    return Response(html, media_type=HTML, status_code=status, headers={"cache-control": "no-store"})


def _not_found(request: AnyRequest, exc: Exception) -> Response[str]:
    """An unknown job or drawing: a page in the reader's language, not a stack trace."""
    if request.scope.get(SESSION_KEY) is None:  # type: ignore[misc]
        return Response("not found", status_code=404, media_type="text/plain")
    return page(request, "missing.html", status=404, detail=getattr(exc, "message", ""))


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[str]:
    return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")


def _crash(request: AnyRequest, exc: Exception) -> Response[str]:
    """A bug: logged with its traceback on the terminal running ``field ui``; the page says so."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return Response(f"internal error: {type(exc).__name__} (see the terminal running field ui)",
                    status_code=500, media_type="text/plain")


def create_app(bench: Workbench, gate: Gate, catalogs: Catalogs, runner: SyncRunner) -> tuple[Litestar, GateMiddleware]:
    """The litestar app, and the gate wrapped around all of it (what is served): every request,
    a 404 or a static file too, passes the gate before litestar routes it."""
    from .actions import ACTIONS, before_request
    from .pages import PAGES

    ui = UiState(bench, gate, catalogs, runner)

    async def refuse(headers: dict[str, str], status: int, reason: str) -> tuple[bytes, bytes]:
        locale = catalogs.negotiate(headers.get("accept-language"))
        html = catalogs.render(locale, "refused.html", status=status, reason=reason)
        return html.encode(), HTML.encode()

    # Assets are cached by the browser: pages name them with the app's version (``?v=``), so an
    # upgraded app is never shown with yesterday's script.
    static = create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False,
                                        cache_control=CacheControlHeader(max_age=86400, private=True))
    app = Litestar(
        route_handlers=[*PAGES, *ACTIONS, static],
        before_request=before_request,
        exception_handlers={UnknownRecord: _not_found, NotFoundException: _not_found,  # type: ignore[dict-item]
                            HTTPException: _http_error, Exception: _crash},
        state=State({"ui": ui}),
        openapi_config=None,
        logging_config=None,   # the terminal is the engineer's: errors only (logging's last resort)
        request_max_body_size=10 * 1024 * 1024,
        debug=False,
    )
    return app, GateMiddleware(app, gate, refuse)
