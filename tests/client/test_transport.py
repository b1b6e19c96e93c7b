"""The HTTP layer with httpx.MockTransport: retries, give-up, and typed errors. No server."""

from __future__ import annotations

from typing import Callable

import httpx
import pytest

from field_client import FieldClient, NotLoggedIn, ServerUnreachable
from field_client.store import get_meta
from field_client.transport import USER_AGENT, Transport
from .laptop_helpers import META, outbox_rows
from sync_protocol import (
    JSON,
    MSGPACK,
    PROTOCOL_VERSION,
    BlobStatus,
    CursorReset,
    EnrollReply,
    ErrorBody,
    Forbidden,
    Hello,
    HelloReply,
    Checkin,
    ProtocolError,
    ScopeViolation,
    SequenceGap,
    Unauthorized,
    UpgradeRequired,
    decode,
    encode,
)

URL = "http://field.test"
HELLO = Hello(protocol_version=PROTOCOL_VERSION, client_version="tests")
HELLO_REPLY = HelloReply(
    protocol_version=1,
    server_version="test",
    schema_version=1,
    device_id="dev-1",
    user_id="u-li-wei",
    user_name="Li Wei",
    role="engineer",
    high_seq=0,
    server_hlc="0000000000010000",
)


def ok_reply(reply: object = HELLO_REPLY, fmt: str = MSGPACK) -> httpx.Response:
    return httpx.Response(200, content=encode(reply, fmt), headers={"Content-Type": fmt})  # type: ignore[arg-type]


def error_reply(
    status: int, error: str, message: str, field: str | None = None, fmt: str = MSGPACK, **detail: object
) -> httpx.Response:
    body = ErrorBody(error=error, message=message, field=field, detail=dict(detail))
    return httpx.Response(status, content=encode(body, fmt), headers={"Content-Type": fmt})  # type: ignore[arg-type]


class Server:
    """A scripted server: answers (or raises) one step per request, then repeats the last."""

    def __init__(self, *steps: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    def mock(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def transport(
    server: Server, retries: int = 4, token: str | None = "tok-123", sleeps: list[float] | None = None
) -> Transport:
    record = sleeps if sleeps is not None else []
    return Transport(URL, token, retries=retries, backoff=0.25, http=server.mock(), sleep=record.append)


# --- retries ------------------------------------------------------------------------------------


def test_retries_connect_errors_and_503_then_succeeds() -> None:
    server = Server(
        httpx.ConnectError("refused"), httpx.Response(503, text="busy"), httpx.ReadTimeout("slow"), ok_reply()
    )
    sleeps: list[float] = []
    reply = transport(server, sleeps=sleeps).call("/sync/v1/hello", HELLO, HelloReply)

    assert reply == HELLO_REPLY
    assert server.calls == 4
    assert sleeps == [0.25, 0.5, 1.0]  # exponential backoff between attempts
    # Every attempt is the very same request (safe to repeat by design).
    bodies = {bytes(r.content) for r in server.requests}
    assert bodies == {encode(HELLO, MSGPACK)}
    assert all(r.url.path == "/sync/v1/hello" and r.method == "POST" for r in server.requests)


def test_requests_carry_token_user_agent_and_msgpack() -> None:
    server = Server(ok_reply())
    transport(server).call("/sync/v1/hello", HELLO, HelloReply)
    [request] = server.requests
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Content-Type"] == MSGPACK
    assert decode(request.content, Hello, MSGPACK) == HELLO


def test_no_token_no_authorization_header() -> None:
    server = Server(ok_reply())
    transport(server, token=None).call("/sync/v1/hello", HELLO, HelloReply)
    assert "Authorization" not in server.requests[0].headers


def test_a_json_reply_is_decoded_as_json() -> None:
    server = Server(ok_reply(fmt=JSON))
    assert transport(server).call("/sync/v1/hello", HELLO, HelloReply) == HELLO_REPLY


@pytest.mark.parametrize("retries", [0, 2, 4])
def test_gives_up_with_server_unreachable_after_retries_plus_one_attempts(retries: int) -> None:
    server = Server(httpx.ConnectError("refused"), httpx.Response(502), httpx.Response(500))
    sleeps: list[float] = []
    with pytest.raises(ServerUnreachable) as err:
        transport(server, retries=retries, sleeps=sleeps).call("/sync/v1/hello", HELLO, HelloReply)
    assert server.calls == retries + 1
    assert len(sleeps) == retries
    assert URL in err.value.message and f"{retries + 1} attempts" in err.value.message


def test_backoff_is_capped() -> None:
    server = Server(httpx.Response(503))
    sleeps: list[float] = []
    with pytest.raises(ServerUnreachable):
        Transport(URL, retries=8, backoff=1.0, http=server.mock(), sleep=sleeps.append).get(
            "/sync/v1/blobs/x/status", BlobStatus
        )
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]


def test_get_and_put_retry_too() -> None:
    status = BlobStatus(sha256="ab" * 32, size=3, offset=3, complete=True)
    server = Server(httpx.ConnectError("down"), ok_reply(status))
    t = transport(server)
    assert t.get(f"/sync/v1/blobs/{'ab' * 32}/status", BlobStatus) == status
    server2 = Server(httpx.Response(504), ok_reply(status))
    assert transport(server2).put(f"/sync/v1/blobs/{'ab' * 32}", b"abc", {"offset": 0, "size": 3}, BlobStatus) == status
    assert server2.calls == 2
    assert {bytes(r.content) for r in server2.requests} == {b"abc"}
    assert server2.requests[-1].url.params["offset"] == "0"


# --- typed errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [MSGPACK, JSON])
def test_a_4xx_error_body_becomes_the_typed_error_and_is_not_retried(fmt: str) -> None:
    server = Server(error_reply(403, "scope", "job J-0004 is not yours", field="job_id", fmt=fmt, job="J-0004"))
    sleeps: list[float] = []
    with pytest.raises(ScopeViolation) as err:
        transport(server, sleeps=sleeps).call("/sync/v1/push", HELLO, HelloReply)
    assert server.calls == 1 and sleeps == []
    assert err.value.field == "job_id"
    assert err.value.message == "job J-0004 is not yours"
    assert err.value.detail == {"job": "J-0004"}
    assert err.value.status == 403


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "unauthorized", Unauthorized),
        (403, "forbidden", Forbidden),
        (409, "seq_gap", SequenceGap),
        (409, "cursor_reset", CursorReset),
        (426, "upgrade_required", UpgradeRequired),
    ],
)
def test_each_error_code_maps_to_its_type(status: int, code: str, kind: type[ProtocolError]) -> None:
    server = Server(error_reply(status, code, "no", field="f", expected=3))
    with pytest.raises(kind) as err:
        transport(server).call("/sync/v1/hello", HELLO, HelloReply)
    assert type(err.value) is kind
    assert err.value.code == code and err.value.field == "f"
    assert server.calls == 1


def test_a_426_is_upgrade_required() -> None:
    server = Server(error_reply(426, "upgrade_required", "protocol 1 is no longer supported", field="protocol_version"))
    with pytest.raises(UpgradeRequired) as err:
        transport(server).call("/sync/v1/hello", HELLO, HelloReply)
    assert err.value.field == "protocol_version"
    assert server.calls == 1


def test_a_sequence_gap_keeps_its_detail() -> None:
    server = Server(error_reply(409, "seq_gap", "expected 4", field="seq", expected=4))
    with pytest.raises(SequenceGap) as err:
        transport(server).call("/sync/v1/push", HELLO, HelloReply)
    assert err.value.detail == {"expected": 4}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, text="<html>not here</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(400, json={"detail": "bad"}),
        httpx.Response(418, content=b""),
    ],
    ids=["html", "json-not-errorbody", "empty"],
)
def test_a_4xx_without_an_error_body_is_a_protocol_error_with_status(response: httpx.Response) -> None:
    server = Server(response)
    with pytest.raises(ProtocolError) as err:
        transport(server).call("/sync/v1/hello", HELLO, HelloReply)
    assert type(err.value) is ProtocolError
    assert err.value.status == response.status_code
    assert str(response.status_code) in err.value.message
    assert server.calls == 1


def test_an_unknown_error_code_keeps_its_code() -> None:
    server = Server(error_reply(409, "brand_new_code", "something new", field="x"))
    with pytest.raises(ProtocolError) as err:
        transport(server).call("/sync/v1/hello", HELLO, HelloReply)
    assert type(err.value) is ProtocolError
    assert err.value.code == "brand_new_code" and err.value.field == "x"
    assert err.value.status == 409  # the answer's status, not the base class default (400)


def test_a_5xx_then_a_4xx_stops_at_the_4xx() -> None:
    server = Server(httpx.Response(500), error_reply(401, "unauthorized", "device revoked"), ok_reply())
    with pytest.raises(Unauthorized):
        transport(server).call("/sync/v1/hello", HELLO, HelloReply)
    assert server.calls == 2


def test_a_streamed_download_error_is_typed() -> None:
    server = Server(error_reply(403, "scope", "not your drawing", field="sha256"))
    t = transport(server)
    with pytest.raises(ScopeViolation):
        with t.stream(f"/sync/v1/blobs/{'cd' * 32}"):
            pass


# --- through FieldClient(http=mock) ---------------------------------------------------------------


def test_field_client_uses_the_given_http_transport_and_its_retry_count(laptop: FieldClient, home) -> None:  # type: ignore[no-untyped-def]
    laptop.record_event("J-0001", Checkin(note="offline"))
    before = outbox_rows(laptop)
    laptop.close()

    server = Server(httpx.ConnectError("no route"))
    with FieldClient(home, http=server.mock(), retries=2, backoff=0.0) as client:
        with pytest.raises(ServerUnreachable):
            client.sync()
        assert server.calls == 3
        assert server.requests[0].url.path == "/sync/v1/hello"
        assert str(server.requests[0].url).startswith(META["server_url"])
        assert server.requests[0].headers["Authorization"] == f"Bearer {META['device_token']}"
        assert outbox_rows(client) == before


def test_field_client_sync_refused_upgrade(laptop: FieldClient, home) -> None:  # type: ignore[no-untyped-def]
    laptop.close()
    server = Server(error_reply(426, "upgrade_required", "upgrade the field client"))
    with FieldClient(home, http=server.mock(), retries=3, backoff=0.0) as client:
        with pytest.raises(UpgradeRequired):
            client.sync()
        assert server.calls == 1


def test_login_enrolls_through_the_transport(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reply = EnrollReply(
        device_id="dev-new", device_token="fs_d_secret", user_id="u-li-wei", user_name="Li Wei", role="engineer"
    )
    server = Server(ok_reply(reply))
    with FieldClient(tmp_path / "h", http=server.mock(), retries=0) as client:
        assert client.login(URL + "/", "fs_e_onetime", device_name="laptop-7") == reply
        meta = client.store.read(
            lambda c: {k: get_meta(c, k) for k in ("server_url", "device_token", "device_id", "user_id", "role")}
        )
    [request] = server.requests
    assert request.url.path == "/sync/v1/enroll"
    assert "Authorization" not in request.headers
    assert meta == {
        "server_url": URL,
        "device_token": "fs_d_secret",
        "device_id": "dev-new",
        "user_id": "u-li-wei",
        "role": "engineer",
    }


def test_a_never_enrolled_client_does_not_touch_the_network(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = Server(ok_reply())
    with FieldClient(tmp_path / "h", http=server.mock()) as client:
        with pytest.raises(NotLoggedIn):
            client.sync()
    assert server.calls == 0


def test_a_large_body_is_sent_gzip_compressed_and_a_small_one_plain() -> None:
    import datetime as dt
    import gzip

    from sync_protocol import AppendEvent, HelloReply, JobEvent, Note, PullRequest, PushRequest
    from sync_protocol import decode as decode_msg

    seen: list[tuple[str | None, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("content-encoding"), request.content))
        reply = HelloReply(
            protocol_version=1,
            server_version="t",
            schema_version=1,
            device_id="d",
            user_id="u",
            user_name="U",
            role="engineer",
            high_seq=0,
            server_hlc="0" * 16,
        )
        return httpx.Response(200, content=encode(reply, MSGPACK), headers={"content-type": MSGPACK})

    at = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)
    mutations = [
        AppendEvent(
            seq=n + 1,
            hlc="0" * 15 + "1",
            event=JobEvent(id=f"e-{n}", job_id="J-1", hlc="0" * 15 + "1", at=at, payload=Note(text="x" * 100)),
        )
        for n in range(50)
    ]
    transport = Transport("http://127.0.0.1:9", "t", http=httpx.MockTransport(answer), sleep=lambda s: None)
    transport.call("/sync/v1/pull", PullRequest(limit=10), HelloReply)
    transport.call("/sync/v1/push", PushRequest(mutations=mutations), HelloReply)
    transport.close()

    (small_encoding, _), (big_encoding, big_content) = seen
    assert small_encoding is None and big_encoding == "gzip"
    assert decode_msg(gzip.decompress(big_content), PushRequest, MSGPACK).mutations == mutations
    assert len(big_content) * 5 < len(encode(PushRequest(mutations=mutations), MSGPACK))
