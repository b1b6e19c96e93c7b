"""The office web app's pages: server-rendered with Jinja2, one handler per page or form.

Pages take the signed-in session (see ``sessions``) and every POST carries the CSRF token of
``security``. Handlers gather data in a worker thread (one read snapshot) and render; forms
write in one transaction, then redirect (POST, redirect, GET) with a flash message saying what
happened, including when an edit met a laptop's edit and went to the conflict queue. A form
whose input is refused is shown again with the reason and what was typed.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, Router
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from sync_protocol import ProtocolError, Unauthorized

from ..access import READ, page_guard
from ..i18n import gettext_of, words
from .common import AnyRequest, log, quote_id, render_now, safe_next
from .data import data_create, data_edit, data_index, data_list, data_new, data_update
from .dispatch import (
    assign_submit,
    board_page,
    cancel_submit,
    intake_form,
    intake_submit,
    job_edit_form,
    job_edit_submit,
    job_page,
    schedule_page,
)
from .review import (
    audit_csv,
    audit_page,
    blob_page,
    conflicts_page,
    resign_submit,
    resolve_submit,
    review_submit,
    stock_submit,
)
from .signin import choose_language, login, login_form, logout, office_home


# --- errors -----------------------------------------------------------------------------------


def _unauthorized(request: AnyRequest, exc: Unauthorized) -> Response[Any]:
    target = request.url.path if request.method == "GET" else ""
    query = f"?next={quote_id(target)}" if safe_next(target) else ""
    return Redirect(f"/office/login{query}", status_code=303)


def _error_page(request: AnyRequest, status: int, message: str) -> Response[Any]:
    return render_now(request, "error.html", status, code=status, message=words(request, message))


def _protocol_error(request: AnyRequest, exc: ProtocolError) -> Response[Any]:
    return _error_page(request, exc.status, exc.message)


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    _ = gettext_of(request)
    message = str(exc.detail)
    if exc.status_code == 403 and "CSRF" in message:
        message = _("This form has expired or did not come from this site. Go back, reload the page and try again.")
    elif exc.status_code == 404:
        message = _("There is no such page.")
    elif exc.status_code == 405:
        message = _("This page cannot be used that way.")
    elif exc.status_code in (400, 413, 422):
        message = _("The request could not be read: {detail}").format(detail=message)
    return _error_page(request, exc.status_code, message)


def _crash(request: AnyRequest, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    _ = gettext_of(request)
    return _error_page(request, 500, _("Something went wrong on the server; it has been logged."))


def pages_router(session_middleware: Any, csrf_middleware: Any) -> Router:
    return Router(
        path="/office",
        guards=[page_guard],
        middleware=[session_middleware, csrf_middleware],
        opt={"roles": READ},
        include_in_schema=False,
        exception_handlers={
            Unauthorized: _unauthorized,
            ProtocolError: _protocol_error,
            HTTPException: _http_error,
            Exception: _crash,
        },
        route_handlers=[
            login_form,
            choose_language,
            login,
            logout,
            office_home,
            board_page,
            schedule_page,
            intake_form,
            intake_submit,
            job_page,
            assign_submit,
            cancel_submit,
            job_edit_form,
            job_edit_submit,
            conflicts_page,
            resolve_submit,
            resign_submit,
            stock_submit,
            audit_page,
            audit_csv,
            review_submit,
            data_index,
            data_list,
            data_new,
            data_create,
            data_edit,
            data_update,
            blob_page,
        ],
    )
