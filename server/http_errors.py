"""Every error, ours or litestar's, leaves as an ``ErrorBody`` with one status per code.

The protocol's typed errors carry their status and code (``sync_protocol.errors``); litestar's
own (a 404 path, a 405 method, a 413 body) get the code of their status from ``HTTP_CODES``; an
unexpected exception is logged and answered ``500 server_error``. The sync endpoints answer in
the caller's format (``http.reply``); the office API always in JSON (``server/office/api.py``).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from sync_protocol import (
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS,
    InvalidValue,
    MalformedMessage,
    ProtocolError,
    TooManyRequests,
    UpgradeRequired,
    sync_path,
)

from .http import reply

log = logging.getLogger("fieldsync.server")

HTTP_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "malformed",
}
_OTHER_VERSION = re.compile(rf"^/sync/v(?!{PROTOCOL_VERSION}/)\d+/")

AnyRequest = Request[Any, Any, Any]


def from_http(exc: HTTPException, message: str | None = None) -> ProtocolError:
    """Litestar's exception as the protocol's error: its status, the code of that status, the
    field litestar's validation named."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    field = next((str(i["key"]) for i in extra if isinstance(i, dict) and i.get("key")), None)
    error = ProtocolError(message if message is not None else str(exc.detail), field=field)
    error.status = exc.status_code
    error.code = HTTP_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "server_error")
    return error


def error_response(request: AnyRequest, error: ProtocolError) -> Response[bytes]:
    response = reply(request, error.to_body(), status=error.status)
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 404 and _OTHER_VERSION.match(request.url.path):
        return error_response(
            request,
            UpgradeRequired(
                f"this server speaks sync protocol v{PROTOCOL_VERSION} ({sync_path('')}): upgrade the field client",
                field="path",
                supported=sorted(SUPPORTED_PROTOCOL_VERSIONS),
            ),
        )
    response = error_response(request, from_http(exc))
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405 (RFC 9110)
    return response


def _crash(request: AnyRequest, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = ProtocolError("internal server error; the request may be retried", field=None)
    error.status, error.code = 500, "server_error"
    return error_response(request, error)


def _too_deep(request: AnyRequest, exc: RecursionError) -> Response[bytes]:
    # A hostile body nested thousands deep exhausts the decoder's recursion: the caller's fault.
    return error_response(request, MalformedMessage("the body is nested too deeply", field="body"))


def _invalid_value(request: AnyRequest, exc: msgspec.ValidationError) -> Response[bytes]:
    return error_response(request, InvalidValue(str(exc)))


EXCEPTION_HANDLERS: dict[type[Exception], Callable[[AnyRequest, Any], Response[bytes]]] = {
    ProtocolError: error_response,
    HTTPException: _http_error,
    msgspec.ValidationError: _invalid_value,
    RecursionError: _too_deep,
    Exception: _crash,
}
