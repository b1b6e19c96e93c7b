"""The litestar application of ``field ui``: the routes of ``pages`` and ``actions`` behind the gate.

How a page is rendered, and the state every handler reads, are ``rendering.py``'s.
"""

from __future__ import annotations

from litestar import Litestar, Response
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.static_files import create_static_files_router

from ..errors import UnknownRecord
from ..workbench import Workbench
from .actions import ACTIONS, before_request
from .gate import SESSION_KEY, Gate, GateMiddleware
from .i18n import Catalogs
from .pages import PAGES
from .rendering import HTML, STATIC, AnyRequest, UiState, log, page
from .syncing import SyncRunner


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
    return Response(
        f"internal error: {type(exc).__name__} (see the terminal running field ui)",
        status_code=500,
        media_type="text/plain",
    )


def create_app(bench: Workbench, gate: Gate, catalogs: Catalogs, runner: SyncRunner) -> tuple[Litestar, GateMiddleware]:
    """The litestar app, and the gate wrapped around all of it (what is served): every request,
    a 404 or a static file too, passes the gate before litestar routes it."""
    ui = UiState(bench, gate, catalogs, runner)

    async def refuse(headers: dict[str, str], status: int, reason: str) -> tuple[bytes, bytes]:
        locale = catalogs.negotiate(headers.get("accept-language"))
        html = catalogs.render(locale, "refused.html", status=status, reason=reason)
        return html.encode(), HTML.encode()

    # Assets are cached by the browser: pages name them with the app's version (``?v=``), so an
    # upgraded app is never shown with yesterday's script.
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400, private=True),
    )
    app = Litestar(
        route_handlers=[*PAGES, *ACTIONS, static],
        before_request=before_request,
        exception_handlers={
            UnknownRecord: _not_found,
            NotFoundException: _not_found,  # type: ignore[dict-item]
            HTTPException: _http_error,
            Exception: _crash,
        },
        state=State({"ui": ui}),
        openapi_config=None,
        logging_config=None,  # the terminal is the engineer's: errors only (logging's last resort)
        request_max_body_size=10 * 1024 * 1024,
        debug=False,
    )
    return app, GateMiddleware(app, gate, refuse)
