"""The rules, each a short function that talks to the server and raises ``Broken`` with what it
expected and what came back. They run in order on one enrolled device (``Run``): later rules use
what earlier ones learnt (the device token, a job in scope, the seqs pushed so far).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import typing
from typing import Any, Callable, NamedTuple

import httpx
import msgspec

from ..codec import JSON, MSGPACK, Format, decode, encode
from ..errors import RejectionReason
from ..events import EventPayload, Note, Photo
from ..hlc import Clock
from ..ids import uuid7
from ..messages import (
    PROTOCOL_VERSION,
    AppendEvent,
    EnrollReply,
    ErrorBody,
    Hello,
    HelloReply,
    Mutation,
    PatchRecord,
    PullRequest,
    PushReply,
    PushRequest,
)
from ..records import JobEvent


class Broken(AssertionError):
    """A rule the server does not keep: the message says what was expected and what came back."""


class Outcome(NamedTuple):
    rule: str
    held: bool
    detail: str = ""

    def line(self) -> str:
        return f"PASS  {self.rule}" if self.held else f"FAIL  {self.rule}\n      {self.detail}"


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Broken(message)


class Run:
    """One device enrolled on the server under test, and what the rules learnt so far."""

    def __init__(self, url: str, enrollment_token: str, timeout: float = 20.0) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self.enrollment_token = enrollment_token
        self.device_token: str | None = None
        self.clock = Clock()
        self.seq = 0
        self.job_id: str | None = None
        self.cursor: str | None = None
        self.limits: dict[str, int] = {}
        self.pushed: list[Mutation] = []

    def close(self) -> None:
        self.http.close()

    # --- requests ---------------------------------------------------------------------------

    def post(
        self, path: str, body: Any, *, auth: bool = True, fmt: Format = JSON, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {"content-type": fmt, **(headers or {})}
        if auth:
            expect(self.device_token is not None, "no device token: enrollment did not succeed")
            sent["authorization"] = f"Bearer {self.device_token}"
        content = body if isinstance(body, bytes) else encode(body, fmt)
        return self.http.post(path, content=content, headers=sent)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.device_token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def ok(self, response: httpx.Response, kind: type[Any]) -> Any:
        expect(response.status_code == 200, f"expected 200, got {response.status_code}: {response.text[:300]}")
        return decode(response.content, kind, JSON)

    def error(self, response: httpx.Response, status: int, code: str, field: str | None = None) -> ErrorBody:
        """The answer must be ``status`` with an ErrorBody of ``code`` (naming ``field``)."""
        expect(
            response.status_code == status,
            f"expected {status} {code}, got {response.status_code}: {response.text[:300]}",
        )
        try:
            body = decode(response.content, ErrorBody, JSON)
        except Exception:  # noqa: BLE001 (whatever it was, it is not an ErrorBody)
            raise Broken(
                f"expected {status} {code} as an ErrorBody, got {response.status_code}: {response.text[:300]}"
            ) from None
        got = (response.status_code, body.error) + ((body.field,) if field is not None else ())
        want = (status, code) + ((field,) if field is not None else ())
        expect(got == want, f"expected {want}, got {got}: {body.message}")
        return body

    def note(self, text: str, seq: int | None = None) -> AppendEvent:
        return self.event(Note(text=text), seq)

    def event(self, payload: EventPayload, seq: int | None = None) -> AppendEvent:
        """An event on the engineer's job, under ``seq`` (the next one by default)."""
        if self.job_id is None:
            raise Broken("no job in the engineer's scope: the pull rules found none")
        hlc = self.clock.tick()
        return AppendEvent(
            seq=seq if seq is not None else self.seq + 1,
            hlc=hlc,
            event=JobEvent(id=uuid7(), job_id=self.job_id, hlc=hlc, at=_now(), payload=payload),
        )

    def push(self, *mutations: Mutation) -> httpx.Response:
        return self.post("/sync/v1/push", PushRequest(mutations=list(mutations)))

    def hello(self) -> HelloReply:
        reply: HelloReply = self.ok(self.post("/sync/v1/hello", Hello(protocol_version=PROTOCOL_VERSION)), HelloReply)
        return reply


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


Rule = Callable[[Run], None]
RULES: list[tuple[str, Rule]] = []


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES.append((name, fn))
        return fn

    return register


# --- enroll and hello ------------------------------------------------------------------------


@rule("enroll: an enrollment token is exchanged for a device token")
def _enroll(run: Run) -> None:
    reply = run.ok(run.post("/sync/v1/enroll", {"enrollment_token": run.enrollment_token}, auth=False), EnrollReply)
    run.device_token = reply.device_token
    expect(reply.role == "engineer", f"the kit needs an engineer's token, got role {reply.role!r}")


@rule("enroll: a used enrollment token answers 401 unauthorized")
def _enroll_twice(run: Run) -> None:
    run.error(run.post("/sync/v1/enroll", {"enrollment_token": run.enrollment_token}, auth=False), 401, "unauthorized")


@rule("a sync request without a token answers 401 unauthorized")
def _no_token(run: Run) -> None:
    run.error(run.post("/sync/v1/hello", Hello(protocol_version=PROTOCOL_VERSION), auth=False), 401, "unauthorized")


@rule("hello: every field is sent, limits whole; a new device has high_seq 0 and high_hlc null")
def _hello_whole(run: Run) -> None:
    response = run.post("/sync/v1/hello", Hello(protocol_version=PROTOCOL_VERSION))
    run.ok(response, HelloReply)
    plain = response.json()
    missing = [f for f in HelloReply.__struct_fields__ if f not in plain]
    expect(not missing, f"hello's answer leaves out {missing}")
    limits = plain["limits"]
    expect(
        isinstance(limits, dict)
        and set(limits) >= {"max_body_bytes", "max_push_batch", "max_pull_page", "blob_chunk_bytes"},
        f"limits not whole: {limits!r}",
    )
    run.limits = limits
    expect(
        (plain["protocol_version"], plain["high_seq"], plain["high_hlc"]) == (PROTOCOL_VERSION, 0, None),
        f"expected protocol 1, high_seq 0, high_hlc null; got {plain}",
    )


@rule("hello: an unsupported protocol_version answers 426 upgrade_required")
def _hello_version(run: Run) -> None:
    run.error(run.post("/sync/v1/hello", {"protocol_version": 999}), 426, "upgrade_required", "protocol_version")


@rule("a path of another protocol version answers 426 upgrade_required")
def _other_path(run: Run) -> None:
    run.error(run.post("/sync/v9/hello", {"protocol_version": 9}), 426, "upgrade_required")


@rule("a POST without Content-Type is read as MessagePack and answered in it")
def _no_content_type(run: Run) -> None:
    response = run.http.post(
        "/sync/v1/hello",
        content=encode(Hello(protocol_version=PROTOCOL_VERSION), MSGPACK),
        headers={"authorization": f"Bearer {run.device_token}"},
    )
    expect(response.status_code == 200, f"expected 200, got {response.status_code}: {response.text[:200]}")
    media = response.headers.get("content-type", "").split(";")[0]
    expect(media == MSGPACK, f"answered as {media!r}, not {MSGPACK}")
    decode(response.content, HelloReply, MSGPACK)


@rule("a value of the wrong type answers 400 malformed naming the field")
def _wrong_type(run: Run) -> None:
    run.error(run.post("/sync/v1/pull", {"limit": "ten"}), 400, "malformed", "limit")


# --- pull ------------------------------------------------------------------------------------


@rule("pull: a page over 1 KiB is gzip-compressed when Accept-Encoding admits gzip, and plain when not")
def _pull_gzip(run: Run) -> None:
    plain = _raw_pull(run, "identity")
    expect(
        plain.headers.get("content-encoding") in (None, "identity"),
        f"Accept-Encoding: identity was answered Content-Encoding: {plain.headers.get('content-encoding')}",
    )
    packed = _raw_pull(run, "gzip")
    if len(plain.content) > 1024:
        expect(
            packed.headers.get("content-encoding") == "gzip",
            f"a {len(plain.content)}-byte page was sent as {packed.headers.get('content-encoding') or 'identity'}",
        )
        expect(len(packed.raw_bytes) < len(plain.content), "the gzip page is no smaller than the plain one")
    same = [msgspec.json.decode(r.content) for r in (plain, packed)]
    for page in same:
        page.pop("server_hlc", None)
        page.pop("cursor", None)
    expect(same[0] == same[1], "the gzip page does not inflate to the plain page")


class _RawResponse(NamedTuple):
    headers: httpx.Headers
    content: bytes  # decoded
    raw_bytes: bytes  # as sent


def _raw_pull(run: Run, encoding: str) -> _RawResponse:
    """The first page from a null cursor, with ``Accept-Encoding: encoding``, as sent and decoded."""
    headers = {
        "content-type": JSON,
        "accept-encoding": encoding,
        "authorization": f"Bearer {run.device_token}",
    }
    body = encode({"cursor": None, "limit": 50}, JSON)
    with run.http.stream("POST", "/sync/v1/pull", content=body, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    expect(response.status_code == 200, f"expected 200, got {response.status_code}")
    decoded = gzip.decompress(raw) if response.headers.get("content-encoding") == "gzip" else raw
    return _RawResponse(response.headers, decoded, raw)


@rule("pull: a prefetch answers the next page or declines; the cursor before it answers the page again")
def _pull_prefetch(run: Run) -> None:
    def page(cursor: str | None, prefetch: bool = False) -> dict[str, Any]:
        body = {"cursor": cursor, "limit": 1, "prefetch": prefetch}
        answer: dict[str, Any] = run.ok(run.post("/sync/v1/pull", body), dict)
        return answer

    first = page(None)
    second = page(first["cursor"])
    expect(first["more"] and second["more"], "a scope of three records or more pulls in pages of one")
    third = page(second["cursor"], prefetch=True)
    declined = (third["changes"], third["more"], third["cursor"]) == ([], True, second["cursor"])
    expect(
        declined or third["changes"] != second["changes"],
        f"a prefetch after {second['cursor']} must answer the next page or decline; got {str(third)[:300]}",
    )
    # The laptop died before committing the second page: the first cursor brings it again.
    again = page(first["cursor"])
    expect(
        again["changes"] == second["changes"],
        f"the cursor before a prefetch must answer the page after it again; got {str(again)[:300]}",
    )


@rule("pull: from a null cursor, pages until more is false; version travels beside each record")
def _pull_all(run: Run) -> None:
    cursor, pages = None, 0
    while True:
        page = run.ok(run.post("/sync/v1/pull", {"cursor": cursor, "limit": 50}), dict)
        pages += 1
        expect(len(page["changes"]) <= 50, f"a page of limit 50 held {len(page['changes'])} changes")
        for change in page["changes"]:
            if change["op"] == "upsert":
                expect(
                    isinstance(change.get("version"), int) and "version" not in change["record"],
                    f"an upsert must carry version beside the record: {str(change)[:200]}",
                )
                record = change["record"]
                if (
                    record.get("entity") == "job"
                    and record.get("status") in ("assigned", "on_site")
                    and run.job_id is None
                ):
                    run.job_id = record["id"]
        cursor = page["cursor"]
        if not page["more"]:
            break
        expect(pages < 10_000, "more than 10,000 pages: the pull does not end")
    run.cursor = cursor
    expect(
        run.job_id is not None,
        "the engineer's scope holds no assigned job: give the kit a token of an engineer with an assigned job",
    )


@rule("pull: an empty page returns the cursor it was given")
def _pull_empty(run: Run) -> None:
    page = run.ok(run.post("/sync/v1/pull", {"cursor": run.cursor, "limit": 50}), dict)
    expect(
        (page["changes"], page["more"], page["cursor"]) == ([], False, run.cursor),
        f"expected no changes and cursor {run.cursor}; got {str(page)[:300]}",
    )


@rule("pull: a cursor not issued to this device answers 400 malformed, field cursor")
def _pull_forged(run: Run) -> None:
    run.error(run.post("/sync/v1/pull", {"cursor": "1-0000000000000000"}), 400, "malformed", "cursor")


@rule("pull: a limit over max_pull_page answers 413 too_large, field limit")
def _pull_limit(run: Run) -> None:
    over = int(run.limits.get("max_pull_page", 5000)) + 1
    run.error(run.post("/sync/v1/pull", {"cursor": run.cursor, "limit": over}), 413, "too_large", "limit")


# --- push ------------------------------------------------------------------------------------


@rule("push: a batch not starting at high_seq + 1 answers 409 seq_gap with detail.expected")
def _push_gap(run: Run) -> None:
    body = run.error(run.push(run.note("gap", seq=5)), 409, "seq_gap")
    expect(body.detail.get("expected") == 1, f"expected detail.expected 1, got {body.detail}")


@rule("push: a mutation is applied, and hello's high_seq and high_hlc follow it")
def _push_one(run: Run) -> None:
    note = run.note("conformance kit: applied once")
    reply = run.ok(run.push(note), PushReply)
    expect(
        [(r.seq, r.status) for r in reply.results] == [(1, "applied")], f"expected seq 1 applied, got {reply.results}"
    )
    run.seq, run.pushed = 1, [note]
    hello = run.hello()
    expect(
        (hello.high_seq, hello.high_hlc) == (1, note.hlc),
        f"expected high_seq 1 and high_hlc {note.hlc}, got {hello.high_seq} and {hello.high_hlc}",
    )


@rule("push: a retried batch gets the same answers and is not applied again")
def _push_retry(run: Run) -> None:
    first = run.ok(run.push(*run.pushed), PushReply)
    again = run.ok(run.push(*run.pushed), PushReply)
    expect(first.results == again.results, f"answers differ: {first.results} then {again.results}")
    expect(run.hello().high_seq == 1, "a retried batch moved high_seq")


@rule("push: an event re-sent under a new seq is answered applied, reason duplicate_event")
def _push_duplicate(run: Run) -> None:
    resent = msgspec.structs.replace(run.pushed[0], seq=2)
    reply = run.ok(run.push(resent), PushReply)
    expect(
        [(r.status, r.reason) for r in reply.results] == [("applied", "duplicate_event")],
        f"expected applied / duplicate_event, got {reply.results}",
    )
    run.seq = 2
    run.pushed.append(resent)


@rule("push: another mutation under the last applied seq answers 409 seq_gap (renumber first)")
def _push_overtaken(run: Run) -> None:
    body = run.error(run.push(run.note("made on a restored copy", seq=2)), 409, "seq_gap")
    expect(body.detail.get("expected") == 3, f"expected detail.expected 3, got {body.detail}")


@rule("push without hello: a mark the server is not at answers 409 hello_required and applies nothing")
def _push_wrong_mark(run: Run) -> None:
    stamp = run.pushed[-1].hlc
    for after_seq, after_hlc in ((run.seq - 1, stamp), (run.seq, "0000000000000000")):
        note = run.note("pushed against a stale mark")
        body = run.error(
            run.post("/sync/v1/push", PushRequest(mutations=[note], after_seq=after_seq, after_hlc=after_hlc)),
            409,
            "hello_required",
        )
        expect(body.detail.get("high_seq") == run.seq, f"expected detail.high_seq {run.seq}, got {body.detail}")
    expect(run.hello().high_seq == run.seq, "a push refused with hello_required moved high_seq")


@rule("push without hello: the mark of the last answer (high_seq, high_hlc) is taken; the answer moves it")
def _push_with_mark(run: Run) -> None:
    first = run.ok(run.push(*run.pushed), PushReply)  # a retry: its answer tells the mark
    expect(
        (first.high_seq, first.high_hlc) == (run.seq, run.pushed[-1].hlc),
        f"expected high_seq {run.seq} and high_hlc {run.pushed[-1].hlc}, got {first.high_seq} and {first.high_hlc}",
    )
    note = run.note("pushed without hello")
    request = PushRequest(mutations=[note], after_seq=first.high_seq, after_hlc=first.high_hlc)
    reply = run.ok(run.post("/sync/v1/push", request), PushReply)
    expect(
        [(r.seq, r.status) for r in reply.results] == [(run.seq + 1, "applied")]
        and (reply.high_seq, reply.high_hlc) == (run.seq + 1, note.hlc),
        f"expected seq {run.seq + 1} applied at high_hlc {note.hlc}, got {reply}",
    )
    run.seq += 1
    run.pushed.append(note)


@rule("push: a rejected mutation gives a documented reason and names the field")
def _push_rejected(run: Run) -> None:
    assert run.job_id is not None
    patch = PatchRecord(
        seq=run.seq + 1, hlc=run.clock.tick(), entity="job", id=run.job_id, base_version=0, fields={"status": "closed"}
    )
    reply = run.ok(run.push(patch), PushReply)
    result = reply.results[0]
    expect(
        (result.status, result.reason, result.field) == ("rejected", "forbidden_field", "fields.status"),
        f"expected rejected / forbidden_field / fields.status, got {result}",
    )
    expect(result.reason in typing.get_args(RejectionReason), f"undocumented reason {result.reason!r}")
    run.seq += 1


@rule("push: a text holding a NUL refuses the whole push, 422 invalid naming the field, nothing applied")
def _push_nul(run: Run) -> None:
    run.error(
        run.push(run.note("before"), run.note("a\x00b", seq=run.seq + 2)),
        422,
        "invalid",
        "mutations[1].event.payload.text",
    )
    hello = run.hello()
    expect(hello.high_seq == run.seq, f"expected high_seq to stay {run.seq}, got {hello.high_seq}")


@rule("push: an event pushed with keeps_events is not pulled back; one pushed without it is")
def _push_keeps_events(run: Run) -> None:
    kept, sent = run.note("kept by the laptop", seq=run.seq + 1), run.note("sent back", seq=run.seq + 2)
    for note, keeps in ((kept, True), (sent, False)):
        reply = run.ok(run.post("/sync/v1/push", PushRequest(mutations=[note], keeps_events=keeps)), PushReply)
        expect([r.status for r in reply.results] == ["applied"], f"expected applied, got {reply.results}")
        run.seq += 1
    pulled: set[str] = set()
    while True:
        page = run.ok(run.post("/sync/v1/pull", {"cursor": run.cursor, "limit": 50}), dict)
        pulled |= {c["record"]["id"] for c in page["changes"] if c["op"] == "upsert"}
        run.cursor = page["cursor"]
        if not page["more"]:
            break
    expect(sent.event.id in pulled, "an event pushed without keeps_events was not pulled back")
    expect(kept.event.id not in pulled, "an event pushed with keeps_events was sent back to the laptop keeping it")


@rule("push with pull: the answer carries the page after the push's own effects, acknowledged as a pull's")
def _push_with_pull(run: Run) -> None:
    note = run.note("pulled back in the push answer", seq=run.seq + 1)
    request = PushRequest(mutations=[note], pull=PullRequest(cursor=run.cursor, limit=50))
    reply = run.ok(run.post("/sync/v1/push", request), dict)
    expect([r["status"] for r in reply["results"]] == ["applied"], f"expected applied, got {reply['results']}")
    run.seq += 1
    page = reply.get("pull")
    expect(isinstance(page, dict), f"expected the page in the answer's pull, got {str(reply)[:300]}")
    pulled = {c["record"]["id"] for c in page["changes"] if c["op"] == "upsert"}
    expect(note.event.id in pulled, "the page in a push answer does not hold the event the push appended")
    while page["more"]:
        page = run.ok(run.post("/sync/v1/pull", {"cursor": page["cursor"], "limit": 50}), dict)
    run.cursor = page["cursor"]
    again = run.ok(run.post("/sync/v1/pull", {"cursor": run.cursor, "limit": 50}), dict)
    expect(
        (again["changes"], again["more"]) == ([], False),
        f"after the page of a push answer, a pull from its cursor must be empty; got {str(again)[:300]}",
    )


@rule("push with pull: a limit over max_pull_page, a cursor of another device or a prefetch refuses the push")
def _push_with_bad_pull(run: Run) -> None:
    over = int(run.limits.get("max_pull_page", 5000)) + 1
    for pull, status, code, field in (
        (PullRequest(cursor=run.cursor, limit=over), 413, "too_large", "pull.limit"),
        (PullRequest(cursor="1-0000000000000000"), 400, "malformed", "pull.cursor"),
        (PullRequest(cursor=run.cursor, prefetch=True), 422, "invalid", "pull.prefetch"),
    ):
        note = run.note("pushed with a bad pull", seq=run.seq + 1)
        run.error(run.post("/sync/v1/push", PushRequest(mutations=[note], pull=pull)), status, code, field)
    hello = run.hello()
    expect(hello.high_seq == run.seq, f"a push refused for its pull moved high_seq to {hello.high_seq}")


@rule("push: a batch over max_push_batch answers 413 too_large")
def _push_batch(run: Run) -> None:
    over = int(run.limits.get("max_push_batch", 5000)) + 1
    notes = [run.note("x", seq=run.seq + 1 + i) for i in range(over)]
    run.error(run.push(*notes), 413, "too_large", "mutations")


# --- blobs -----------------------------------------------------------------------------------

BLOB = os.urandom(1000)
SHA = hashlib.sha256(BLOB).hexdigest()


def _put(run: Run, offset: int, chunk: bytes, size: int = len(BLOB), sha: str = SHA) -> httpx.Response:
    return run.request(
        "PUT",
        f"/sync/v1/blobs/{sha}",
        params={"offset": offset, "size": size},
        content=chunk,
        headers={"content-type": "application/octet-stream", "accept": JSON},
    )


@rule("blobs: the status of a partial upload gives its offset and its size")
def _blob_partial(run: Run) -> None:
    run.ok(_put(run, 0, BLOB[:400]), dict)
    status = run.ok(run.request("GET", f"/sync/v1/blobs/{SHA}/status"), dict)
    expect(
        (status.get("offset"), status.get("size"), status.get("complete", False)) == (400, len(BLOB), False),
        f"expected offset 400, size {len(BLOB)}, not complete; got {status}",
    )


@rule("blobs: a chunk at another offset answers 409 offset_mismatch with detail.offset")
def _blob_offset(run: Run) -> None:
    body = run.error(_put(run, 0, BLOB[:400]), 409, "offset_mismatch", "offset")
    expect(body.detail.get("offset") == 400, f"expected detail.offset 400, got {body.detail}")


@rule("blobs: a chunk declaring another total size answers 422 invalid, field size")
def _blob_size(run: Run) -> None:
    run.error(_put(run, 400, BLOB[400:600], size=600), 422, "invalid", "size")


@rule("blobs: the last chunk completes the upload; a blob is read through a photo on the engineer's job")
def _blob_complete(run: Run) -> None:
    done = run.ok(_put(run, 400, BLOB[400:]), dict)
    expect(done.get("complete") is True and done.get("size") == len(BLOB), f"not complete: {done}")
    unnamed = run.request("GET", f"/sync/v1/blobs/{SHA}", headers={"accept": JSON})
    run.error(unnamed, 403, "scope", "sha256")  # no record in the device's scope names it yet
    photo = run.event(Photo(sha256=SHA, media_type="application/octet-stream"))
    reply = run.ok(run.push(photo), PushReply)
    expect(reply.results[0].status == "applied", f"the photo was not applied: {reply.results[0]}")
    run.seq = photo.seq
    got = run.request("GET", f"/sync/v1/blobs/{SHA}")
    expect(got.status_code == 200 and got.content == BLOB, f"download: {got.status_code}, {len(got.content)} B")


@rule("blobs: bytes that do not hash to their name answer 422 sha256_mismatch")
def _blob_forged(run: Run) -> None:
    forged = hashlib.sha256(b"something else").hexdigest()
    run.error(_put(run, 0, BLOB, sha=forged), 422, "sha256_mismatch", "sha256")


@rule("blobs: Range bytes=N-M answers 206 with Content-Range")
def _blob_range(run: Run) -> None:
    got = run.request("GET", f"/sync/v1/blobs/{SHA}", headers={"range": "bytes=10-19"})
    expect(
        (got.status_code, got.content, got.headers.get("content-range"))
        == (206, BLOB[10:20], f"bytes 10-19/{len(BLOB)}"),
        f"got {got.status_code}, {len(got.content)} B, Content-Range {got.headers.get('content-range')!r}",
    )


@rule("blobs: a range past the end answers 416; a suffix range answers 400 malformed, field range")
def _blob_bad_ranges(run: Run) -> None:
    run.error(
        run.request("GET", f"/sync/v1/blobs/{SHA}", headers={"range": f"bytes={len(BLOB)}-"}),
        416,
        "range_not_satisfiable",
        "range",
    )
    run.error(run.request("GET", f"/sync/v1/blobs/{SHA}", headers={"range": "bytes=-5"}), 400, "malformed", "range")


def run(url: str, enrollment_token: str, timeout: float = 20.0) -> list[Outcome]:
    """Every rule against the server at ``url``, in order: what held and what did not."""
    session = Run(url, enrollment_token, timeout)
    outcomes = []
    try:
        for name, check in RULES:
            try:
                check(session)
                outcomes.append(Outcome(name, True))
            except Broken as exc:
                outcomes.append(Outcome(name, False, str(exc)))
            except httpx.HTTPError as exc:
                outcomes.append(Outcome(name, False, f"no answer from the server: {exc!r}"))
            except Exception as exc:  # noqa: BLE001 (a broken answer must not stop the other rules)
                outcomes.append(Outcome(name, False, f"{type(exc).__name__}: {exc}"))
    finally:
        session.close()
    return outcomes
