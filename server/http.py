"""HTTP plumbing every protocol endpoint shares: who is calling, the body in, the answer out.

Handlers read the raw body and decode it with ``sync_protocol.codec`` (so a bad field is named
exactly as the protocol document names it), authenticate before reading a byte of it, and answer
in the caller's format. Store work runs in a worker thread (``in_thread``).
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, NamedTuple, TypeVar

import anyio.to_thread
from litestar import Request, Response
from litestar.connection import ASGIConnection

from sync_protocol import JSON, MAX_BODY_BYTES, MSGPACK, MalformedMessage, TooLarge, decode, encode, format_of
from sync_protocol.codec import Format, refuse_nul

from . import auth, blobs
from .auth import Principal
from .state import ServerState

T = TypeVar("T")


class CheckedRequest(Request[Any, Any, Any]):
    """The request class of the whole app. litestar decodes the office API's JSON bodies itself
    (``JSONBody``), not through ``read_body``: this holds them to the protocol's text rule too
    (no NUL, ``bounds.nul_path``), with the same ``422 invalid`` naming the field."""

    async def json(self) -> Any:
        value = await super().json()
        refuse_nul(value, await self.body())
        return value


def state_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ServerState:
    return connection.app.state.fieldsync  # type: ignore[no-any-return]


def reply_format(request: Request[Any, Any, Any]) -> Format:
    """Answer in the request's format unless ``Accept`` asks for the other one."""
    accept = request.headers.get("accept", "")
    if accept and "*/*" not in accept:
        try:
            best = request.accept.best_match([MSGPACK, JSON, "application/x-msgpack", "application/vnd.msgpack"])
        except (OverflowError, ValueError):  # "q=1e999": a weight no client means; no preference then
            best = None
        if best == JSON:
            return JSON
        if best is not None:
            return MSGPACK
    try:
        return format_of(request.headers.get("content-type")) if request.method != "GET" else JSON
    except MalformedMessage:
        return JSON


def reply(request: Request[Any, Any, Any], message: Any, status: int = 200) -> Response[bytes]:
    fmt = reply_format(request)
    return Response(encode(message, fmt), media_type=fmt, status_code=status)


async def read_body(request: Request[Any, Any, Any], kind: type[T], limit: int = MAX_BODY_BYTES) -> T:
    """The body as ``kind``: MessagePack unless ``Content-Type`` says JSON, gzip inflated to at
    most ``limit`` bytes."""
    fmt = format_of(request.headers.get("content-type"))
    raw = inflate(await request.body(), request.headers.get("content-encoding"), limit)
    if not raw:
        raise MalformedMessage("the request body is empty", field="body")
    return decode(raw, kind, fmt)


def inflate(raw: bytes, encoding: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """A ``Content-Encoding: gzip`` body (a laptop on a metered link compresses its pushes:
    a part swap shrinks from ~400 to ~60 bytes), inflated with the body limit still enforced."""
    if not encoding or encoding.strip().lower() == "identity":
        return raw
    if encoding.strip().lower() != "gzip":
        raise MalformedMessage(f"unsupported content encoding {encoding!r}: use gzip or none", field="content-encoding")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise MalformedMessage(f"the gzip body is damaged: {exc}", field="body") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"a body inflates to at most {limit} bytes", field="body", limit=limit)
    return out


# A pull page over this many bytes goes gzip-compressed to a laptop that accepts gzip: a
# part swap's 477 bytes of JSON become about 80. Below it, the gzip header costs more than it saves.
GZIP_ABOVE = 1024
# Level 1: 2 µs per record of server CPU for about 81 bytes, where level 6 costs 6 µs for 65
# (measured on 5,000-record pages of part swaps); the server's CPU is what a fleet waits for.
GZIP_LEVEL = 1


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 12.5.3): named, or ``*``,
    with a weight above 0. A weight that is no number (``q=1e999``, ``q=x``) drops that entry."""
    if not header:
        return False
    weights: dict[str, float] = {}
    for item in header.split(",")[:32]:
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip()[:8])
                except ValueError:
                    weight = -1.0
                if not 0.0 <= weight <= 1.0:
                    weight = -1.0
        if weight >= 0.0 and coding:
            weights[coding] = weight
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0.0
    return weights.get("*", 0.0) > 0.0


class Encoded(NamedTuple):
    """An answer's body as sent, and the headers that say how."""

    body: bytes
    headers: dict[str, str]


def content_encoded(body: bytes, gzip_ok: bool) -> Encoded:
    """``body`` gzip-compressed when the caller accepts gzip and it is worth it; run it in the
    worker thread that made the body (compressing a 2 MB page takes about 10 ms)."""
    if gzip_ok and len(body) > GZIP_ABOVE:
        deflater = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        return Encoded(
            deflater.compress(body) + deflater.flush(), {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        )
    return Encoded(body, {"Vary": "Accept-Encoding"})


def encoded_response(encoded: Encoded, media_type: str) -> Response[bytes]:
    return Response(encoded.body, media_type=media_type, headers=encoded.headers)


async def in_thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


async def caller(request: Request[Any, Any, Any]) -> Principal:
    """The caller, from ``Authorization: Bearer``. On the event loop itself: one indexed read
    that a writer never blocks (WAL), cheaper than the hop to a worker thread and back that every
    sync request would otherwise pay."""
    header = request.headers.get("authorization")
    return state_of(request).db.glance(lambda c: auth.authenticate(c, header))


def query_int(request: Request[Any, Any, Any], name: str) -> int:
    """A required non-negative integer query parameter, read after authentication (litestar
    would validate declared parameters before the handler runs, answering strangers about our
    parameters): ``blobs.parse_count``'s rule (ASCII digits, at most 18 of them)."""
    return blobs.parse_count(request.query_params.get(name), name)
