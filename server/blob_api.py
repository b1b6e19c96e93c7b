"""The blob endpoints of docs/protocol.md: resumable chunked upload, its status, ranged download.

The bytes live in the server's blob store (``server/blobstore``: a directory or an S3 bucket,
one interface); the database only notes which blobs exist and who uploaded them (``blobs.py``),
and the scope decides who may fetch one (``scopes.blob_visible``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, put
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import FromPath
from litestar.response import Stream

from sync_protocol import (
    BLOB_CHUNK_BYTES,
    BlobStatus,
    ChecksumMismatch,
    NotFound,
    ProtocolError,
    ScopeViolation,
    TooLarge,
    sync_path,
)

from . import blobs, blobstore, permissions
from .http import caller, in_thread, query_int, reply, state_of
from .openapi import OCTETS, SHA256_PATH, answers, header, query, sync_operation
from .state import ServerState
from .storage import blobs as blob_rows
from .storage import scopes


# What the blob handlers read themselves, after authenticating (for the OpenAPI document only).
_UPLOAD_PARAMETERS = [
    SHA256_PATH,
    query("offset", Schema(type=OpenAPIType.INTEGER, minimum=0), description="where this chunk starts"),
    query("size", Schema(type=OpenAPIType.INTEGER, minimum=0), description="the whole blob's size"),
    query(
        "media_type",
        Schema(type=OpenAPIType.STRING, max_length=200),
        required=False,
        description="recorded when the upload completes",
    ),
]
_DOWNLOAD_PARAMETERS = [
    SHA256_PATH,
    header(
        "Range",
        Schema(type=OpenAPIType.STRING, pattern=r"^bytes=[0-9]+-[0-9]*$"),
        description="one range, to resume a cut download",
    ),
]


def _blob_status(state: ServerState, sha256: str) -> BlobStatus:
    upload = state.blobs.state(sha256)
    return BlobStatus(sha256=sha256, size=upload.size, offset=upload.offset, complete=upload.complete)


@get(
    sync_path("blobs/{sha256:str}/status"),
    responses=answers(BlobStatus, 400, 401),
    operation_class=sync_operation(parameters=[SHA256_PATH]),
)
async def blob_status(request: Request[Any, Any, Any], sha256: FromPath[str]) -> Response[bytes]:
    await caller(request)
    blobstore.check_sha(sha256)
    state = state_of(request)

    def work() -> BlobStatus:
        status = _blob_status(state, sha256)
        # A laptop asks before it pushes events that name the file: keep it from collection.
        if status.complete and state.db.read(lambda c: blob_rows.stale(c, sha256)):
            state.db.write(lambda c: blob_rows.touch(c, sha256))
        return status

    return reply(request, await in_thread(work))


@put(
    sync_path("blobs/{sha256:str}"),
    status_code=200,
    responses=answers(BlobStatus, 400, 401, 403, 409, 413, 422),
    operation_class=sync_operation(
        media_type=OCTETS, parameters=_UPLOAD_PARAMETERS, description="bytes offset..offset+len-1 of the blob"
    ),
)
async def blob_upload(request: Request[Any, Any, Any], sha256: FromPath[str]) -> Response[bytes]:
    who = await caller(request)
    permissions.check_upload(who)
    blobstore.check_sha(sha256)
    offset, size = query_int(request, "offset"), query_int(request, "size")
    media_type = request.query_params.get("media_type", "application/octet-stream")
    data = await request.body()
    if len(data) > BLOB_CHUNK_BYTES:
        raise TooLarge(f"a blob chunk holds at most {BLOB_CHUNK_BYTES} bytes", field="body", limit=BLOB_CHUNK_BYTES)
    state = state_of(request)
    quota = state.config.security.upload_quota_bytes

    def work() -> BlobStatus:
        began = False
        if not state.blobs.has(sha256):  # a new upload counts against its device's quota
            blobstore.check_size(size)
            began = state.db.write(lambda c: blobs.reserve_upload(c, sha256, size, who.device_id, who.user_id, quota))
        try:
            upload = state.blobs.write_chunk(sha256, offset, size, data)
        except ProtocolError as exc:  # bytes refused: an upload that began with them did not begin
            if began or isinstance(exc, ChecksumMismatch):
                state.db.write(lambda c: blob_rows.drop_upload(c, sha256))
            raise
        if upload.complete and not state.db.write(
            lambda c: blobs.record_complete(
                c, state.blobs, sha256, upload.size or 0, media_type[:200], who.user_id, who.device_id
            )
        ):
            return BlobStatus(sha256=sha256, offset=0, complete=False)  # collected meanwhile: send it again
        return BlobStatus(sha256=sha256, size=upload.size, offset=upload.offset, complete=upload.complete)

    return reply(request, await in_thread(work))


@get(
    sync_path("blobs/{sha256:str}"),
    responses={
        **answers(bytes, 400, 401, 403, 404, 416, media_type=OCTETS, description="The whole blob"),
        **answers(bytes, status=206, media_type=OCTETS, description="The requested range of the blob"),
    },
    operation_class=sync_operation(parameters=_DOWNLOAD_PARAMETERS),
)
async def blob_download(request: Request[Any, Any, Any], sha256: FromPath[str]) -> Stream:
    who = await caller(request)
    blobstore.check_sha(sha256)
    state = state_of(request)

    def check() -> int:
        if not state.blobs.has(sha256):
            raise NotFound(f"no blob {sha256}", field="sha256")
        if not state.db.read(lambda c: scopes.blob_visible(c, who, sha256)):
            raise ScopeViolation("this file belongs to no job of yours", field="sha256")
        return state.blobs.size(sha256)

    size = await in_thread(check)
    start, end = blobs.parse_range(request.headers.get("range"), size)
    headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
    status = 200
    if start > 0 or end < size - 1:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if size == 0:
        headers["Content-Length"] = "0"
        return Stream(iter([b""]), media_type="application/octet-stream", headers=headers)
    return Stream(
        state.blobs.read(sha256, start, end), media_type="application/octet-stream", status_code=status, headers=headers
    )


BLOB_HANDLERS = [blob_status, blob_upload, blob_download]
