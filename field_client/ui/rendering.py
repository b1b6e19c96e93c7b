"""How a page of ``field ui`` is rendered, and what every handler reads from the app.

Every page is rendered by ``page()``: the reader's locale (their choice in the app, else their
browser's ``Accept-Language``, else the ``--lang`` setting), the session's CSRF token for the
forms, the messages left by the last action, and the laptop's sync state for the header. The
pages and actions import this; ``app.py`` assembles them into the litestar app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response

from ..workbench import Workbench
from .gate import SESSION_KEY, Gate, Session
from .i18n import Catalogs
from .syncing import SyncRunner

STATIC = Path(__file__).resolve().parent / "static"
HTML = "text/html"  # litestar adds the charset
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
    session = request.scope.get(SESSION_KEY)
    return ui_of(request).catalogs.negotiate(
        request.headers.get("accept-language"),
        session.locale if session else None,  # type: ignore[misc]
    )


def gettext_of(request: AnyRequest) -> Any:
    return ui_of(request).catalogs.gettext(locale_of(request))


def flash(request: AnyRequest, message: str, level: str = "ok") -> None:
    session_of(request).flashes.append((level, message))


def header_state(ui: UiState) -> dict[str, Any]:
    """The strip on every page: pending changes, last sync, online or not (as last known)."""
    status = ui.bench.client.status()
    sync = ui.runner.state()
    return {
        "pending": status["pending"],
        "last_sync_at": status["last_sync_at"],
        "user": status["user_name"],
        "reachable": sync["reachable"],
        "running": sync["running"],
        "rejected": status["rejected"],
        "conflicts": status["open_conflicts"],
    }


def page(request: AnyRequest, template: str, status: int = 200, **context: Any) -> Response[str]:
    ui = ui_of(request)
    session = session_of(request)
    flashes, session.flashes = session.flashes, []
    html = ui.catalogs.render(
        locale_of(request),
        template,
        csrf=session.csrf,
        flashes=flashes,
        header=header_state(ui),
        here=request.url.path,
        **context,
    )
    return Response(html, media_type=HTML, status_code=status, headers={"cache-control": "no-store"})
