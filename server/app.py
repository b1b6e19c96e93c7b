"""The litestar application: HTTP in, typed protocol out.

Handlers are thin. Each reads the raw body, decodes it with ``sync_protocol.codec`` (so a bad
field is named exactly as the protocol document names it), authenticates, and runs the store
work in a worker thread through ``Database`` (one writer, per-thread readers). Every error,
ours or litestar's, leaves as an ``ErrorBody`` in the caller's format with one status per code.

>>> app = create_app(tmp_data_dir)        # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1")    # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zlib
from pathlib import Path
from typing import Any, Callable, TypeVar

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response, get, post, put
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import FromPath
from litestar.response import Stream

from sync_protocol import (
    BLOB_CHUNK_BYTES, JSON, MAX_BODY_BYTES, MAX_PUSH_BATCH, MSGPACK, PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS, AssignReply, AssignRequest, BlobStatus, EnrollReply, EnrollRequest,
    Forbidden, Hello, HelloReply, InvalidValue, MalformedMessage, NotFound, ProtocolError, PullPage,
    PullRequest, PushReply, PushRequest, ScopeViolation, TooLarge, UpgradeRequired, decode, encode,
    format_of,
)
from sync_protocol.codec import Format

from . import __version__, assign, audit, auth, blobs, pull, push, scopes, store
from .auth import Principal
from .database import Database
from .office import office_app_config
from .openapi import OCTETS, SHA256_PATH, answers, header, query, sync_operation
from .pull_page import encode_page
from .schema import SCHEMA_VERSION, migrate
from .scheduler import ScheduledWork, ServerScheduler

T = TypeVar("T")
log = logging.getLogger("fieldsync.server")

DB_FILE = "fieldsync.db"
# Room for a full push batch plus HTTP framing; the protocol limit itself is MAX_BODY_BYTES.
_BODY_LIMIT = MAX_BODY_BYTES
_OTHER_VERSION = re.compile(r"^/sync/v(?!1/)\d+/")
_HTTP_CODES = {400: "malformed", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "malformed"}


class ServerState:
    """What every request needs: the store, the blob directory, the clock and the cursor key."""

    def __init__(self, data_dir: Path, durable: bool = False) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.db = Database(data_dir / DB_FILE, durable=durable)
        self.db.exclusive(migrate)
        self.blobs = blobs.BlobStore(data_dir / "blobs")
        self.clock = push.ServerClock()
        self.secret: str = self.db.read(
            lambda c: c.execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0])

    def close(self) -> None:
        self.db.close()


# --- plumbing ---------------------------------------------------------------------------------


def _state(request: Request) -> ServerState:
    return request.app.state.fieldsync  # type: ignore[no-any-return]


def reply_format(request: Request) -> Format:
    """Answer in the request's format unless ``Accept`` asks for the other one."""
    accept = request.headers.get("accept", "")
    if accept and "*/*" not in accept:
        best = request.accept.best_match([MSGPACK, JSON, "application/x-msgpack", "application/vnd.msgpack"])
        if best == JSON:
            return JSON
        if best is not None:
            return MSGPACK
    try:
        return format_of(request.headers.get("content-type")) if request.method != "GET" else JSON
    except MalformedMessage:
        return JSON


def _reply(request: Request, message: Any, status: int = 200) -> Response[bytes]:
    fmt = reply_format(request)
    return Response(encode(message, fmt), media_type=fmt, status_code=status)


async def _body(request: Request, kind: type[T]) -> T:
    fmt = format_of(request.headers.get("content-type"))
    raw = inflate(await request.body(), request.headers.get("content-encoding"))
    if not raw:
        raise MalformedMessage("the request body is empty", field="body")
    return decode(raw, kind, fmt)


def inflate(raw: bytes, encoding: str | None) -> bytes:
    """A ``Content-Encoding: gzip`` body (a laptop on a metered link compresses its pushes:
    a part swap shrinks from ~400 to ~60 bytes), inflated with the body limit still enforced."""
    if not encoding or encoding.strip().lower() == "identity":
        return raw
    if encoding.strip().lower() != "gzip":
        raise MalformedMessage(f"unsupported content encoding {encoding!r}: use gzip or none",
                               field="content-encoding")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise MalformedMessage(f"the gzip body is damaged: {exc}", field="body") from None
    if len(out) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise TooLarge(f"a body inflates to at most {MAX_BODY_BYTES} bytes", field="body", limit=MAX_BODY_BYTES)
    return out


async def _in_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


def _authenticate(state: ServerState, request: Request) -> Principal:
    header = request.headers.get("authorization")
    return state.db.read(lambda c: auth.authenticate(c, header))


async def _who(request: Request) -> Principal:
    # On the event loop itself: one indexed read that a writer never blocks (WAL), cheaper than
    # the hop to a worker thread and back that every sync request would otherwise pay.
    return _authenticate(_state(request), request)


# --- sync endpoints ---------------------------------------------------------------------------


@post("/sync/v1/enroll", status_code=200, responses=answers(EnrollReply, 400, 401, 413),
      operation_class=sync_operation(EnrollRequest))
async def enroll_device(request: Request) -> Response[bytes]:
    body = await _body(request, EnrollRequest)
    state = _state(request)

    def work() -> EnrollReply:
        device_id, token, user = state.db.write(
            lambda c: auth.enroll(c, body.enrollment_token, body.device_name, body.platform))
        return EnrollReply(device_id=device_id, device_token=token, user_id=user["id"],
                           user_name=user["display_name"], role=user["role"])

    return _reply(request, await _in_thread(work))


@post("/sync/v1/hello", status_code=200, responses=answers(HelloReply, 400, 401, 413, 426),
      operation_class=sync_operation(Hello, example=Hello(protocol_version=PROTOCOL_VERSION)))
async def hello(request: Request) -> Response[bytes]:
    who = await _who(request)  # every endpoint authenticates before it reads a byte of the body
    body = await _body(request, Hello)
    if body.protocol_version not in SUPPORTED_PROTOCOL_VERSIONS:
        raise UpgradeRequired(
            f"this server speaks sync protocol version(s) {sorted(SUPPORTED_PROTOCOL_VERSIONS)}, "
            f"not {body.protocol_version}: upgrade the field client", field="protocol_version",
            supported=sorted(SUPPORTED_PROTOCOL_VERSIONS))
    state = _state(request)

    def work() -> HelloReply:
        high = state.db.read(lambda c: c.execute("SELECT high_seq FROM devices WHERE id=?",
                                                 (who.device_id,)).fetchone()[0])
        return HelloReply(protocol_version=PROTOCOL_VERSION, server_version=__version__,
                          schema_version=SCHEMA_VERSION, device_id=who.device_id, user_id=who.user_id,
                          user_name=who.display_name, role=who.role, high_seq=high,
                          server_hlc=state.clock.tick())

    return _reply(request, await _in_thread(work))


@post("/sync/v1/push", status_code=200, responses=answers(PushReply, 400, 401, 409, 413),
      operation_class=sync_operation(PushRequest))
async def push_mutations(request: Request) -> Response[bytes]:
    who = await _who(request)
    try:
        body = await _body(request, PushRequest)
    except MalformedMessage as exc:
        if exc.field == "mutations" and "length <=" in exc.message:
            raise TooLarge(f"a push carries at most {MAX_PUSH_BATCH} mutations", field="mutations",
                           limit=MAX_PUSH_BATCH) from None
        raise
    state = _state(request)

    def work() -> Any:
        return state.db.write(lambda c: push.push(c, who, body, state.clock))

    return _reply(request, await _in_thread(work))


@post("/sync/v1/pull", status_code=200, responses=answers(PullPage, 400, 401, 409, 413),
      operation_class=sync_operation(PullRequest, example=PullRequest(limit=100)))
async def pull_changes(request: Request) -> Response[bytes]:
    who = await _who(request)
    body = await _body(request, PullRequest)
    state = _state(request)
    fmt = reply_format(request)

    # An up-to-date device is answered on the event loop: a few microseconds of reading that a
    # writer never blocks, where a worker thread would cost more to reach than the read itself.
    quiet = state.db.read(lambda c: pull.unchanged(c, who, body, state.secret))
    if quiet is not None:
        return Response(encode_page(quiet, state.clock.tick(), fmt), media_type=fmt)

    def work() -> bytes:
        rows = state.db.write(lambda c: pull.pull(c, who, body, state.secret))
        return encode_page(rows, state.clock.tick(), fmt)  # encoded outside the write lock

    return Response(await _in_thread(work), media_type=fmt)


# --- blobs ------------------------------------------------------------------------------------


def _query_int(request: Request, name: str) -> int:
    """A required non-negative integer query parameter, read after authentication (litestar
    would validate declared parameters before the handler runs, answering strangers about our
    parameters). ASCII digits only: ``int()`` would also take "-1", "1_000" or "١"."""
    raw = request.query_params.get(name)
    if raw is None:
        raise MalformedMessage(f"query parameter {name} is required", field=name)
    if not (raw.isascii() and raw.isdigit()):
        raise MalformedMessage(f"query parameter {name} must be a non-negative integer, not {raw!r}",
                               field=name)
    return int(raw)


# What the blob handlers read themselves, after authenticating (for the OpenAPI document only).
_UPLOAD_PARAMETERS = [
    SHA256_PATH,
    query("offset", Schema(type=OpenAPIType.INTEGER, minimum=0), description="where this chunk starts"),
    query("size", Schema(type=OpenAPIType.INTEGER, minimum=0), description="the whole blob's size"),
    query("media_type", Schema(type=OpenAPIType.STRING, max_length=200), required=False,
          description="recorded when the upload completes"),
]
_DOWNLOAD_PARAMETERS = [
    SHA256_PATH,
    header("Range", Schema(type=OpenAPIType.STRING, pattern=r"^bytes=[0-9]+-[0-9]*$"),
           description="one range, to resume a cut download"),
]


def _blob_status(state: ServerState, sha256: str) -> BlobStatus:
    upload = state.blobs.state(sha256)
    return BlobStatus(sha256=sha256, size=upload.size, offset=upload.offset, complete=upload.complete)


@get("/sync/v1/blobs/{sha256:str}/status", responses=answers(BlobStatus, 400, 401),
     operation_class=sync_operation(parameters=[SHA256_PATH]))
async def blob_status(request: Request, sha256: FromPath[str]) -> Response[bytes]:
    await _who(request)
    blobs.check_sha(sha256)
    return _reply(request, _blob_status(_state(request), sha256))


@put("/sync/v1/blobs/{sha256:str}", status_code=200, responses=answers(BlobStatus, 400, 401, 409, 413, 422),
     operation_class=sync_operation(media_type=OCTETS, parameters=_UPLOAD_PARAMETERS,
                                    description="bytes offset..offset+len-1 of the blob"))
async def blob_upload(request: Request, sha256: FromPath[str]) -> Response[bytes]:
    who = await _who(request)
    blobs.check_sha(sha256)
    offset, size = _query_int(request, "offset"), _query_int(request, "size")
    media_type = request.query_params.get("media_type", "application/octet-stream")
    data = await request.body()
    if len(data) > BLOB_CHUNK_BYTES:
        raise TooLarge(f"a blob chunk holds at most {BLOB_CHUNK_BYTES} bytes", field="body",
                       limit=BLOB_CHUNK_BYTES)
    state = _state(request)

    def work() -> BlobStatus:
        upload = state.blobs.write_chunk(sha256, offset, size, data)
        if upload.complete:
            state.db.write(lambda c: blobs.record_blob(c, sha256, upload.size or 0, media_type[:200],
                                                       who.user_id))
        return BlobStatus(sha256=sha256, size=upload.size, offset=upload.offset, complete=upload.complete)

    return _reply(request, await _in_thread(work))


@get("/sync/v1/blobs/{sha256:str}", responses={
    **answers(bytes, 400, 401, 403, 404, 416, media_type=OCTETS, description="The whole blob"),
    **answers(bytes, status=206, media_type=OCTETS, description="The requested range of the blob")},
     operation_class=sync_operation(parameters=_DOWNLOAD_PARAMETERS))
async def blob_download(request: Request, sha256: FromPath[str]) -> Stream:
    who = await _who(request)
    blobs.check_sha(sha256)
    state = _state(request)

    def check() -> int:
        if not state.blobs.has(sha256):
            raise NotFound(f"no blob {sha256}", field="sha256")
        if not state.db.read(lambda c: scopes.blob_visible(c, who, sha256)):
            raise ScopeViolation("this file belongs to no job of yours", field="sha256")
        return state.blobs.size(sha256)

    size = await _in_thread(check)
    start, end = blobs.parse_range(request.headers.get("range"), size)
    headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
    status = 200
    if start > 0 or end < size - 1:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if size == 0:
        headers["Content-Length"] = "0"
        return Stream(iter([b""]), media_type="application/octet-stream", headers=headers)
    return Stream(state.blobs.read(sha256, start, end), media_type="application/octet-stream",
                  status_code=status, headers=headers)


# --- office -----------------------------------------------------------------------------------


@post("/api/v1/jobs/{job_id:str}/assign", status_code=200, tags=["office"],
      responses=answers(AssignReply, 400, 401, 403, 404, 409, 413, 422),
      operation_class=sync_operation(AssignRequest, example=AssignRequest(assignee="li-wei")))
async def assign_job(request: Request, job_id: FromPath[str]) -> Response[bytes]:
    who = await _who(request)
    if who.role not in ("dispatcher", "admin"):
        raise Forbidden("only a dispatcher may assign jobs", field="role")
    body = await _body(request, AssignRequest)
    state = _state(request)

    def work() -> Any:
        def assign_and_chain(conn: Any) -> Any:
            mark = store.current_version(conn)
            reply = assign.assign(conn, who, job_id, body.assignee, state.clock)
            audit.append_changes_since(conn, mark, dt.datetime.now(dt.timezone.utc),
                                       audit.Actor(who.user_id, who.device_id), "office.assign",
                                       primary=("job", job_id), ref=f"to {body.assignee}")
            return reply

        return state.db.write(assign_and_chain)

    return _reply(request, await _in_thread(work))


@get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


# --- errors -----------------------------------------------------------------------------------


def _error_response(request: Request, error: ProtocolError) -> Response[bytes]:
    return _reply(request, error.to_body(), status=error.status)


def _http_error(request: Request, exc: HTTPException) -> Response[bytes]:
    path = request.url.path
    if exc.status_code == 404 and _OTHER_VERSION.match(path):
        return _error_response(request, UpgradeRequired(
            f"this server speaks sync protocol v{PROTOCOL_VERSION} (/sync/v1/): upgrade the field client",
            field="path", supported=sorted(SUPPORTED_PROTOCOL_VERSIONS)))
    code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "server_error")
    error = ProtocolError(str(exc.detail), field=_field_of_http(exc))
    error.status, error.code = exc.status_code, code
    response = _error_response(request, error)
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405 (RFC 9110)
    return response


def _field_of_http(exc: HTTPException) -> str | None:
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("key"):
            return str(item["key"])
    return None


def _crash(request: Request, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = ProtocolError("internal server error; the request may be retried", field=None)
    error.status, error.code = 500, "server_error"
    return _error_response(request, error)


def _too_deep(request: Request, exc: RecursionError) -> Response[bytes]:
    # A hostile body nested thousands deep exhausts the decoder's recursion: the caller's fault.
    return _error_response(request, MalformedMessage("the body is nested too deeply", field="body"))


def _invalid_value(request: Request, exc: msgspec.ValidationError) -> Response[bytes]:
    return _error_response(request, InvalidValue(str(exc)))


# --- the app ----------------------------------------------------------------------------------


def create_app(data_dir: str | Path, durable: bool = False, scheduler: bool = False) -> Litestar:
    """The server over the store in ``data_dir`` (created and migrated if needed); with
    ``scheduler`` the scheduled jobs (``scheduler.py``) run from startup until shutdown."""
    state = ServerState(Path(data_dir), durable=durable)
    jobs = ServerScheduler(ScheduledWork(state.db, state.data_dir, state.clock)) if scheduler else None
    office = office_app_config(state)  # the office web app and /api/v1 (server/office)
    app = Litestar(
        route_handlers=[enroll_device, hello, push_mutations, pull_changes, blob_status, blob_upload,
                        blob_download, assign_job, healthz, *office.route_handlers],
        template_config=office.template_config, stores=office.stores,
        exception_handlers={ProtocolError: _error_response, HTTPException: _http_error,
                            msgspec.ValidationError: _invalid_value, RecursionError: _too_deep,
                            Exception: _crash},
        request_max_body_size=_BODY_LIMIT,
        on_startup=[jobs.start] if jobs else [],
        on_shutdown=[*([jobs.stop] if jobs else []), lambda: state.close()],
        debug=False,
    )
    app.state.fieldsync = state
    app.state.scheduler = jobs
    return app
