"""The office web app: dispatch board, fault intake, reference data, job sheets, conflict queue
and backup audit, for dispatchers and supervisors, in pages and as JSON under ``/api/v1``.

    sessions.py      sign-in with a device or enrollment token; engineers refused
    security.py      session (server-side, rotating id) and CSRF settings
    access.py        roles per handler; one guard for pages, one for the API
    edits.py         every office edit through the laptops' merge path (push.apply_patch)
    jobs.py          intake, correction, cancel, the board's SLA clocks
    refdata.py       reference-data forms: fields, parsing, what the person changed
    conflict_queue.py  listing and resolving conflicts
    sheet.py         the synced job sheet and its signature's state
    audit_report.py  backup-before-repair audit and its CSV
    pages/           HTML pages (Jinja2 templates in server/templates): sign-in, dispatch,
                     review (conflicts, audit, files), reference data
    i18n.py          the pages' language (switch, Accept-Language, config) over the shared
                     catalogs and formats of ``sync_protocol.i18n``
    api.py, api_refdata.py   /api/v1
    assign_api.py    POST /api/v1/jobs/{id}/assign, in the sync protocol's formats (protocol.md)

``office_app_config(state)`` is all ``server.app`` needs: routers and stores (pages render
with ``i18n.catalogs()``, one Jinja2 environment per language).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store

from ..state import ServerState
from .api import api_router
from .assign_api import assign_job
from .pages import pages_router
from .db_sessions import DatabaseStore
from .security import SESSION_STORE, csrf_config, session_config, session_store

SERVER_DIR = Path(__file__).resolve().parent.parent


class OfficeConfig(NamedTuple):
    route_handlers: list[Any]
    stores: dict[str, Store]


def office_app_config(state: ServerState) -> OfficeConfig:
    """What the litestar app registers for the office: routers, templates, the session store."""
    secure = state.config.security.secure_cookies  # behind TLS: cookies only over HTTPS
    sessions = session_config(secure)
    csrf = DefineMiddleware(CSRFMiddleware, config=csrf_config(state.secret, secure))
    static = create_static_files_router(path="/static", directories=[SERVER_DIR / "static"], include_in_schema=False)
    return OfficeConfig(
        route_handlers=[pages_router(sessions.middleware, csrf), api_router(sessions.middleware), assign_job, static],
        stores={
            SESSION_STORE: DatabaseStore(state.db)
            if state.db.dialect == "postgresql"
            else session_store(state.data_dir)
        },
    )


__all__ = ["OfficeConfig", "office_app_config"]
