"""The sync endpoints of docs/protocol.md: enroll, hello, push and pull.

Thin handlers: authenticate, decode the body (``http.read_body``), run the store work of
``auth``, ``push`` and ``pull`` in one transaction, answer in the caller's format. A push that
carries a pull runs the pull in a second transaction after its own.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post

from sync_protocol import (
    MAX_PUSH_BATCH,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS,
    CursorReset,
    EnrollReply,
    EnrollRequest,
    Hello,
    HelloReply,
    InvalidValue,
    PullPage,
    PullRequest,
    PushReply,
    PushRequest,
    TooLarge,
    Unauthorized,
    UpgradeRequired,
    sync_path,
)

from . import auth, policy, pull, push, throttle
from .http import (
    Encoded,
    accepts_gzip,
    caller,
    content_encoded,
    encoded_response,
    in_thread,
    read_body,
    reply,
    reply_format,
    state_of,
)
from .openapi import answers, sync_operation
from .auth import Principal
from .pull import PullRows
from .pull_page import encode_page, encode_push_reply
from .state import ServerState
from .storage import devices
from .storage.schema import SCHEMA_VERSION
from .version import __version__

log = logging.getLogger("fieldsync.server")


@post(
    sync_path("enroll"),
    status_code=200,
    responses=answers(EnrollReply, 400, 401, 408, 413, 422, 429),
    operation_class=sync_operation(EnrollRequest),
    request_max_body_size=throttle.UNAUTHENTICATED_BODY_BYTES,
)
async def enroll_device(request: Request[Any, Any, Any]) -> Response[bytes]:
    # No token yet: a small body, a bounded number at once, failures counted (throttle.py).
    body = await read_body(request, EnrollRequest, limit=throttle.UNAUTHENTICATED_BODY_BYTES)
    state = state_of(request)
    address = throttle.client_address(request)
    state.limiter.check(address, body.enrollment_token)

    def work() -> EnrollReply:
        device_id, token, user = state.db.write(
            lambda c: auth.enroll(c, body.enrollment_token, body.device_name, body.platform)
        )
        return EnrollReply(
            device_id=device_id,
            device_token=token,
            user_id=user["id"],
            user_name=user["display_name"],
            role=user["role"],
        )

    try:
        return reply(request, await in_thread(work))
    except Unauthorized:
        state.limiter.failed(address, body.enrollment_token)
        raise


@post(
    sync_path("hello"),
    status_code=200,
    responses=answers(HelloReply, 400, 401, 413, 422, 426),
    operation_class=sync_operation(Hello, example=Hello(protocol_version=PROTOCOL_VERSION)),
)
async def hello(request: Request[Any, Any, Any]) -> Response[bytes]:
    who = await caller(request)  # every endpoint authenticates before it reads a byte of the body
    body = await read_body(request, Hello)
    if body.protocol_version not in SUPPORTED_PROTOCOL_VERSIONS:
        raise UpgradeRequired(
            f"this server speaks sync protocol version(s) {sorted(SUPPORTED_PROTOCOL_VERSIONS)}, "
            f"not {body.protocol_version}: upgrade the field client",
            field="protocol_version",
            supported=sorted(SUPPORTED_PROTOCOL_VERSIONS),
        )
    state = state_of(request)

    def work() -> HelloReply:
        high, high_hlc = state.db.read(lambda c: devices.high_water(c, who.device_id))
        return HelloReply(
            protocol_version=PROTOCOL_VERSION,
            server_version=__version__,
            schema_version=SCHEMA_VERSION,
            device_id=who.device_id,
            user_id=who.user_id,
            user_name=who.display_name,
            role=who.role,
            high_seq=high,
            high_hlc=high_hlc,
            server_hlc=state.clock.tick(),
        )

    return reply(request, await in_thread(work))


@post(
    sync_path("push"),
    status_code=200,
    responses=answers(PushReply, 400, 401, 409, 413, 422),
    operation_class=sync_operation(PushRequest),
)
async def push_mutations(request: Request[Any, Any, Any]) -> Response[bytes]:
    who = await caller(request)
    try:
        body = await read_body(request, PushRequest)
    except InvalidValue as exc:  # a list over its bound is invalid; the batch's bound is a limit: 413
        if exc.field == "mutations" and "length <=" in exc.message:
            raise TooLarge(
                f"a push carries at most {MAX_PUSH_BATCH} mutations", field="mutations", limit=MAX_PUSH_BATCH
            ) from None
        raise
    state = state_of(request)
    asked = body.pull
    if asked is not None:  # refused before the push applies anything
        pull.check_request(who, asked, state.secret, within="pull.")
        if asked.prefetch:
            raise InvalidValue("the pull a push carries cannot be a prefetch", field="pull.prefetch")
    fmt = reply_format(request)
    gzip_ok = accepts_gzip(request.headers.get("accept-encoding"))

    def work() -> PushReply | Encoded:
        config = policy.load(state.data_dir)  # a corrected severity moves the deadlines
        answer = state.db.write(lambda c: push.push(c, who, body, state.clock, config=config))
        if asked is None:
            return answer
        rows = _page_after_push(state, who, asked)
        return content_encoded(encode_push_reply(answer, rows, state.clock.tick(), fmt), gzip_ok)

    done = await in_thread(work)
    if isinstance(done, PushReply):
        return reply(request, done)
    return encoded_response(done, fmt)


def _page_after_push(state: ServerState, who: Principal, asked: PullRequest) -> PullRows | None:
    """The page the push's ``pull`` asked for, in its own transaction after the push's commit,
    so that it holds the push's effects (the van's stock, its conflicts) and the push holds the
    store's lock no longer than alone. None when the cursor is no longer taken: the laptop's own
    pull then meets ``409 cursor_reset`` and starts again, as it would have without this.

    None too when the page fails for any other reason (the store busy or gone, a fault): the
    push has committed, and its answers must reach the laptop whatever became of the page. Its
    own pull then meets the fault, answered and logged where it belongs."""
    try:
        return state.db.write(lambda c: pull.pull(c, who, asked, state.secret))
    except CursorReset:
        return None
    except Exception:  # the committed push's answer outranks the page
        log.exception("the page after device %s's push failed: answered without it", who.device_id)
        return None


@post(
    sync_path("pull"),
    status_code=200,
    responses=answers(PullPage, 400, 401, 409, 413, 422),
    operation_class=sync_operation(PullRequest, example=PullRequest(limit=100)),
)
async def pull_changes(request: Request[Any, Any, Any]) -> Response[bytes]:
    state = state_of(request)
    # The token's statement also reads the device's pull state: an up-to-date device is answered
    # on the event loop from that one read, which a writer never blocks, where a worker thread
    # would cost more to reach than the read itself.
    header = request.headers.get("authorization")
    who, device = state.db.glance(lambda c: auth.authenticate_pulling(c, header))
    body = await read_body(request, PullRequest)
    pull.check_request(who, body, state.secret)
    fmt = reply_format(request)
    gzip_ok = accepts_gzip(request.headers.get("accept-encoding"))
    quiet = pull.unchanged(who, body, state.secret, device)
    if quiet is not None:
        return encoded_response(content_encoded(encode_page(quiet, state.clock.tick(), fmt), gzip_ok), fmt)

    def work() -> Encoded:
        rows = state.db.write(lambda c: pull.pull(c, who, body, state.secret))
        # Encoded and compressed outside the write lock.
        return content_encoded(encode_page(rows, state.clock.tick(), fmt), gzip_ok)

    return encoded_response(await in_thread(work), fmt)


SYNC_HANDLERS = [enroll_device, hello, push_mutations, pull_changes]
