"""The litestar application: the sync endpoints, the blob endpoints and the office, over one store.

    state.py        ServerState: the store, the blob store, the clock, the cursor key
    http.py         who is calling, the body in, the answer out (the caller's format)
    http_errors.py  every error as an ErrorBody, one status per code
    sync_api.py     enroll, hello, push, pull
    blob_api.py     blob upload, status, download
    office/         the office's pages and /api/v1 (assign among them)

>>> app = create_app(tmp_data_dir)        # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1")    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin

from sync_protocol import MAX_BODY_BYTES

from . import throttle
from .blob_api import BLOB_HANDLERS
from .headers import security_headers
from .http import CheckedRequest
from .http_errors import EXCEPTION_HANDLERS
from .office import office_app_config
from .scheduler import ScheduledWork, ServerScheduler
from .state import DB_FILE, ServerState
from .sync_api import SYNC_HANDLERS
from .version import __version__

__all__ = ["DB_FILE", "ServerState", "create_app"]


@get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


def create_app(
    data_dir: str | Path,
    durable: bool = False,
    scheduler: bool = False,
    database: str | None = None,
    blobs: str | None = None,
) -> Litestar:
    """The server over the store of ``data_dir`` (created and migrated if needed), or over
    ``database`` (a URL: ``storage.open_database``); with ``scheduler`` the scheduled jobs
    (``scheduler.py``) run from startup until shutdown; ``blobs`` is a blob store URL
    (``blobstore.open_store``) instead of ``[blobs]`` of config.toml."""
    state = ServerState(Path(data_dir), durable=durable, database=database, blobs_url=blobs)
    jobs = (
        ServerScheduler(ScheduledWork(state.db, state.data_dir, state.clock, blobs=state.blobs)) if scheduler else None
    )
    office = office_app_config(state)  # the office web app and /api/v1 (server/office)
    app = Litestar(
        route_handlers=[*SYNC_HANDLERS, *BLOB_HANDLERS, healthz, *office.route_handlers],
        stores=office.stores,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_class=CheckedRequest,  # the office API's JSON bodies keep to the text rule too
        # The protocol's body limit; litestar answers 413 past it (set explicitly: see STACK-NOTES).
        request_max_body_size=MAX_BODY_BYTES,
        before_send=[security_headers],  # a Content-Security-Policy on every answer (headers.py)
        middleware=[throttle.UnauthenticatedGate],  # strangers: a bounded number at once (throttle.py)
        openapi_config=OpenAPIConfig(
            title="fieldsync", version=__version__, render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()]
        ),
        on_startup=[jobs.start] if jobs else [],
        on_shutdown=[*([jobs.stop] if jobs else []), lambda: state.close()],
        debug=False,
    )
    app.state.fieldsync = state
    app.state.scheduler = jobs
    return app
