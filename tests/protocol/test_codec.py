"""Codec: every message roundtrips in MessagePack and JSON; errors name the field."""

from __future__ import annotations

import datetime as dt
import json
import re

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol import events as ev
from sync_protocol import messages as m
from sync_protocol import records as r
from sync_protocol.bounds import NUL, nul_path
from sync_protocol.checks import check_patch
from sync_protocol.codec import JSON, MSGPACK, convert, decode, encode, field_of, format_of
from sync_protocol.errors import InvalidValue, MalformedMessage, ProtocolError, SyncRejected
from sync_protocol.hlc import encode as hlc

FORMATS = [MSGPACK, JSON]

IDS = st.from_regex(r"[A-Za-z0-9_.:|@-]{1,20}", fullmatch=True)
# What a laptop can type: any character but a NUL (no text holds one) and a lone surrogate
# (UTF-8 cannot carry one; ``st.text()`` leaves them out unless told an alphabet).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
SEQ = st.integers(min_value=1, max_value=2**53)
HLCS = st.builds(hlc, st.integers(0, 2**48 - 1), st.integers(0, 0xFFFF))
SHA = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
WHEN = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.timezone.utc)
)


def _payloads(sha: str, ident: str, text: str) -> list[ev.EventPayload]:
    return [
        ev.Checkin(note=text),
        ev.Backup(scope="config", method=text, sha256=sha, size=12, verified=True),
        ev.Backup(waived=True, waive_reason=text or "none"),
        ev.Diagnosis(cause="hardware", findings=text, severity=2),
        ev.Quote(lines=[ev.QuoteLine(sku=ident, qty=2, unit_price_cents=150)], labour_cents=10),
        ev.CustomerApproval(quote_event_id=ident, approved_by=text),
        ev.PartSwap(
            equipment_id=ident, sku=ident, serial_out="A", serial_in="B", warranty_until=dt.date(2030, 1, 2), notes=text
        ),
        ev.Loaner(device=text, returned=True),
        ev.Test(result="fail", notes=text),
        ev.Note(text=text),
        ev.Photo(sha256=sha, caption=text),
        ev.Signature(signer=text, image_sha256=sha, sheet_hash=sha, event_ids=[ident]),
        ev.Resolution(outcome="escalated", reason=text),
    ]


def _records(ident: str, text: str, sha: str, stamp: str, when: dt.datetime) -> list[r.Record]:
    return [
        r.Customer(id=ident, name=text, phone="123"),
        r.Site(
            id=ident,
            customer_id=ident,
            name=text,
            contact_phone="555",
            handover_date=dt.date(2020, 5, 1),
            subsystems=["cctv", text],
        ),
        r.Drawing(
            id=ident, site_id=ident, title=text, filename="a.pdf", media_type="application/pdf", sha256=sha, size=10
        ),
        r.Equipment(id=ident, site_id=ident, model="M1", serial="S1", parameters={"ip": text}),
        r.Part(id=ident, name=text, price_cents=999),
        r.Stock(id=r.stock_id(r.van("u1"), "sku1"), location="van:u1", sku="sku1", qty=-2),
        r.Job(
            id=ident,
            number="J-1",
            customer_id=ident,
            site_id=ident,
            severity=3,
            reported_at=when,
            assignee=ident,
            equipment_ids=[ident],
            fault=text,
            flags=["x"],
        ),
        r.JobEvent(id=ident, job_id=ident, hlc=stamp, at=when, payload=ev.Note(text=text)),
        r.Conflict(
            id=ident,
            kind="field",
            record_entity="site",
            record_id=ident,
            field="name",
            kept=text,
            other=[1, "two"],
            kept_by=r.Party(user="u", side="office", hlc=stamp),
            rule=text,
            created_at=when,
        ),
    ]


def _messages(ident, text, sha, stamp, when, seq) -> list[object]:
    event = r.JobEvent(id=ident, job_id=ident, hlc=stamp, at=when, payload=ev.Checkin(note=text))
    mutations = [
        m.AppendEvent(seq=seq, hlc=stamp, event=event),
        m.PatchRecord(
            seq=seq,
            hlc=stamp,
            entity="site",
            id=ident,
            base_version=3,
            fields={"contact_phone": text, "n": 1, "l": [1, 2], "none": None},
        ),
    ]
    changes = [m.Upsert(version=7, record=rec) for rec in _records(ident, text, sha, stamp, when)]
    changes.append(m.Remove(entity="job", id=ident, reason="left_scope"))
    return [
        m.EnrollRequest(enrollment_token="tok", device_name=text),
        m.EnrollReply(device_id=ident, device_token="t", user_id=ident, user_name=text, role="engineer"),
        m.Hello(protocol_version=1, client_version=text),
        m.Limits(max_push_batch=10),
        m.HelloReply(
            protocol_version=1,
            server_version="1",
            schema_version=1,
            device_id=ident,
            user_id=ident,
            user_name=text,
            role="office",
            high_seq=seq,
            server_hlc=stamp,
        ),
        *mutations,
        m.MutationResult(
            seq=seq, status="rejected", reason="scope", field="id", message=text, version=4, conflicts=[ident]
        ),
        m.PushRequest(mutations=mutations),
        m.PushReply(results=[m.MutationResult(seq=seq, status="applied")], high_seq=seq, server_hlc=stamp),
        m.PullRequest(cursor=text, limit=5),
        m.PullRequest(),
        *changes,
        m.PullPage(changes=changes, cursor="c", more=True, server_hlc=stamp),
        m.BlobStatus(sha256=sha, size=3, offset=1),
        m.AssignRequest(assignee=ident),
        m.AssignReply(job_id=ident, assignee=ident, status="assigned", version=2),
        m.ErrorBody(error="malformed", message=text, field="x", detail={"expected": 3}),
    ]


def _decode_type(obj: object) -> object:
    """Tagged-union members roundtrip through their union type too."""
    if isinstance(obj, (m.AppendEvent, m.PatchRecord)):
        return m.Mutation
    if isinstance(obj, (m.Upsert, m.Remove)):
        return m.Change
    return type(obj)


MESSAGE_TYPES = {
    type(x) for x in _messages("i", "t", "0" * 64, "0" * 16, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), 1)
}


def test_every_message_type_is_covered() -> None:
    declared = {
        obj
        for obj in vars(m).values()
        if isinstance(obj, type)
        and issubclass(obj, msgspec.Struct)
        and obj.__module__ == m.__name__
        and not obj.__name__.startswith(("_", "Spliced"))
    }
    assert declared <= MESSAGE_TYPES, declared - MESSAGE_TYPES


@pytest.mark.parametrize("fmt", [JSON, MSGPACK])
def test_spliced_messages_are_the_typed_ones_on_the_wire(fmt: str) -> None:
    """A page spliced from stored records, and a push spliced from stored mutations, are byte
    for byte the PullPage and PushRequest a client decodes."""
    at = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    site = r.Site(id="S-1", customer_id="C-1", name="Plant")
    page = m.PullPage(
        changes=[m.Remove(entity="job", id="J-1", reason="left_scope"), m.Upsert(version=7, record=site)],
        cursor="c",
        more=False,
        server_hlc="0" * 16,
    )
    spliced = m.SplicedPullPage(
        changes=[
            m.Remove(entity="job", id="J-1", reason="left_scope"),
            m.SplicedUpsert(version=7, record=msgspec.Raw(encode(site, fmt))),
        ],
        cursor="c",
        more=False,
        server_hlc="0" * 16,
    )
    assert encode(spliced, fmt) == encode(page, fmt)
    note = m.AppendEvent(
        seq=1, hlc="0" * 16, event=r.JobEvent(id="e-1", job_id="J-1", hlc="0" * 16, at=at, payload=ev.Note(text="hi"))
    )
    push = m.SplicedPushRequest(mutations=[msgspec.Raw(encode(note, fmt))])
    assert encode(push, fmt) == encode(m.PushRequest(mutations=[note]), fmt)


@settings(max_examples=40, deadline=None)
@given(ident=IDS, text=TEXT, sha=SHA, stamp=HLCS, when=WHEN, seq=SEQ)
@pytest.mark.parametrize("fmt", FORMATS)
def test_roundtrip_every_message(fmt, ident, text, sha, stamp, when, seq) -> None:
    for message in _messages(ident, text, sha, stamp, when, seq):
        body = encode(message, fmt)
        assert decode(body, type(message), fmt) == message
        assert decode(body, _decode_type(message), fmt) == message


@settings(max_examples=20, deadline=None)
@given(ident=IDS, text=TEXT, sha=SHA, stamp=HLCS, when=WHEN)
@pytest.mark.parametrize("fmt", FORMATS)
def test_roundtrip_every_record_and_event_kind(fmt, ident, text, sha, stamp, when) -> None:
    for record in _records(ident, text, sha, stamp, when):
        assert decode(encode(record, fmt), r.Record, fmt) == record
        assert r.from_builtins(r.to_builtins(record)) == record
    for payload in _payloads(sha, ident, text):
        event = r.JobEvent(id=ident, job_id=ident, hlc=stamp, at=when, payload=payload)
        assert decode(encode(event, fmt), r.JobEvent, fmt) == event


def test_all_event_kinds_covered() -> None:
    kinds = {ev.kind_of(p) for p in _payloads("0" * 64, "i", "t")}
    assert kinds == set(ev.EVENT_KINDS)


def test_json_is_json_and_msgpack_is_not() -> None:
    msg = m.PullRequest(cursor="abc", limit=3)
    assert json.loads(encode(msg, JSON)) == {"cursor": "abc", "limit": 3}
    assert encode(msg, MSGPACK) != encode(msg, JSON)
    assert encode(msg) == encode(msg, MSGPACK)


def _push_json(mutation: dict) -> bytes:
    return json.dumps({"mutations": [mutation]}).encode()


GOOD_PATCH = {
    "op": "patch",
    "seq": 1,
    "hlc": "0" * 16,
    "entity": "site",
    "id": "s1",
    "base_version": 0,
    "fields": {"name": "x"},
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "bad, field, code, status",
    [
        ({"seq": 0}, "mutations[0].seq", "invalid", 422),  # the right type, out of bounds
        ({"seq": "one"}, "mutations[0].seq", "malformed", 400),  # the wrong type
        ({"hlc": "nope"}, "mutations[0].hlc", "invalid", 422),
        ({"base_version": -1}, "mutations[0].base_version", "invalid", 422),
        ({"id": "has space"}, "mutations[0].id", "invalid", 422),
        ({"fields": {f"f{i}": i for i in range(51)}}, "mutations[0].fields", "invalid", 422),
    ],
)
def test_decode_errors_name_the_field(fmt, bad, field, code, status) -> None:
    data = {"mutations": [{**GOOD_PATCH, **bad}]}
    body = json.dumps(data).encode() if fmt == JSON else msgspec.msgpack.encode(data)
    with pytest.raises(ProtocolError) as info:
        decode(body, m.PushRequest, fmt)
    assert info.value.field == field
    assert (info.value.code, info.value.status) == (code, status)


def test_missing_required_field_is_named() -> None:
    body = _push_json({k: v for k, v in GOOD_PATCH.items() if k != "fields"})
    with pytest.raises(MalformedMessage) as info:
        decode(body, m.PushRequest, JSON)
    assert info.value.field == "mutations[0].fields"
    assert "fields" in info.value.message


def test_nested_event_error_is_named() -> None:
    body = _push_json(
        {
            "op": "event",
            "seq": 1,
            "hlc": "0" * 16,
            "event": {
                "entity": "event",
                "id": "e1",
                "job_id": "j1",
                "hlc": "0" * 16,
                "at": "2024-01-01T00:00:00Z",
                "payload": {"kind": "diagnosis", "cause": "hardware", "findings": "x", "severity": 9},
            },
        }
    )
    with pytest.raises(InvalidValue) as info:
        decode(body, m.PushRequest, JSON)
    assert info.value.field == "mutations[0].event.payload.severity"


def test_good_patch_decodes() -> None:
    req = decode(_push_json(GOOD_PATCH), m.PushRequest, JSON)
    assert req.mutations == [
        m.PatchRecord(seq=1, hlc="0" * 16, entity="site", id="s1", base_version=0, fields={"name": "x"})
    ]


def test_not_json_or_msgpack_is_malformed_body() -> None:
    with pytest.raises(MalformedMessage) as info:
        decode(b"{not json", m.PullRequest, JSON)
    assert info.value.field == "body"
    with pytest.raises(MalformedMessage) as info:
        decode(b"\xc1", m.PullRequest, MSGPACK)
    assert info.value.field == "body"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_string_that_is_not_utf8_is_a_malformed_body(fmt) -> None:
    body = encode(m.PullRequest(cursor="CURSOR"), fmt).replace(b"CURSOR", b"\xff\xfeRSOR")
    with pytest.raises(MalformedMessage) as info:
        decode(body, m.PullRequest, fmt)
    assert info.value.field == "body" and "UTF-8" in info.value.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_entity_tag_rejected(fmt) -> None:
    data = {
        "changes": [{"op": "upsert", "version": 1, "record": {"entity": "spaceship", "id": "x"}}],
        "cursor": "c",
        "more": False,
        "server_hlc": "0" * 16,
    }
    body = json.dumps(data).encode() if fmt == JSON else msgspec.msgpack.encode(data)
    with pytest.raises(MalformedMessage) as info:
        decode(body, m.PullPage, fmt)
    assert info.value.field == "changes[0].record.entity"
    assert "spaceship" in info.value.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_event_kind_rejected(fmt) -> None:
    data = {
        "mutations": [
            {
                "op": "event",
                "seq": 1,
                "hlc": "0" * 16,
                "event": {
                    "entity": "event",
                    "id": "e1",
                    "job_id": "j1",
                    "hlc": "0" * 16,
                    "at": "2024-01-01T00:00:00Z",
                    "payload": {"kind": "teleport", "text": "x"},
                },
            }
        ]
    }
    body = json.dumps(data).encode() if fmt == JSON else msgspec.msgpack.encode(data)
    with pytest.raises(MalformedMessage) as info:
        decode(body, m.PushRequest, fmt)
    assert info.value.field == "mutations[0].event.payload.kind"
    assert "teleport" in info.value.message


def test_unknown_mutation_op_rejected() -> None:
    with pytest.raises(MalformedMessage) as info:
        decode(_push_json({**GOOD_PATCH, "op": "delete"}), m.PushRequest, JSON)
    assert info.value.field == "mutations[0].op"


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_extra_fields_ignored(fmt) -> None:
    data = {"mutations": [{**GOOD_PATCH, "future_field": {"a": 1}}], "also_new": [1, 2, 3]}
    body = json.dumps(data).encode() if fmt == JSON else msgspec.msgpack.encode(data)
    req = decode(body, m.PushRequest, fmt)
    assert req.mutations[0].fields == {"name": "x"}
    assert not hasattr(req, "also_new")
    hello = decode(json.dumps({"protocol_version": 1, "new_thing": True}).encode(), m.Hello, JSON)
    assert hello == m.Hello(protocol_version=1)


def test_field_of() -> None:
    assert field_of("Expected `int`, got `str` - at `$.mutations[3].event.job_id`") == "mutations[3].event.job_id"
    assert field_of("Expected `int`, got `str` - at `$.limit`") == "limit"
    assert field_of("Expected `object`, got `array`") is None
    assert field_of("Object missing required field `x` - at `$`") == "x"
    assert field_of("Object missing required field `protocol_version`") == "protocol_version"
    assert field_of("Object missing required field `job_id` - at `$.mutations[0].event`") == "mutations[0].event.job_id"


@pytest.mark.parametrize(
    "header, fmt",
    [
        (None, MSGPACK),
        ("", MSGPACK),
        ("application/msgpack", MSGPACK),
        ("application/x-msgpack", MSGPACK),
        ("application/vnd.msgpack; q=1", MSGPACK),
        ("application/json", JSON),
        ("Application/JSON; charset=utf-8", JSON),
        ("application/problem+json", JSON),
    ],
)
def test_format_of(header, fmt) -> None:
    assert format_of(header) == fmt


def test_format_of_rejects_other_types() -> None:
    with pytest.raises(MalformedMessage) as info:
        format_of("text/plain")
    assert info.value.field == "content-type"


# --- no text holds a NUL (bounds.nul_path) --------------------------------------------------------

PLAIN = st.recursive(
    st.none() | st.integers() | st.text(st.characters(blacklist_characters=NUL), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), inner, max_size=4)
    ),
    max_leaves=20,
)


def _at(value, path):  # type: ignore[no-untyped-def]
    """The part of ``value`` that ``path`` (``a.b[2]``) names."""
    for key, index in re.findall(r"(?:^|\.)([^.\[]+)|\[(\d+)\]", path):
        value = value[int(index)] if index else value[key]
    return value


@settings(max_examples=300)
@given(value=PLAIN, data=st.data())
def test_a_nul_anywhere_is_found_where_it_is(value, data) -> None:
    assert nul_path(value) is None
    texts = [path for path in _text_paths(value, "") if path]
    if not texts:
        return
    path = data.draw(st.sampled_from(texts))
    step = re.search(r"(?:\.|^)([^.\[]+)$|\[(\d+)\]$", path)
    assert step is not None
    parent = _at(value, path[: step.start()])
    last = int(step.group(2)) if step.group(2) else step.group(1)
    parent[last] = parent[last][:1] + NUL + parent[last][1:]
    found = nul_path(value)
    assert found is not None and NUL in _at(value, found)


def _text_paths(value, path):  # type: ignore[no-untyped-def]
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _text_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _text_paths(item, f"{path}[{i}]")


def test_text_json_cannot_write_is_still_looked_at_not_a_crash() -> None:
    """Plain data may hold a lone surrogate (no decoder lets one in, a form or a merge might):
    JSON cannot write it, so the quick look fails and the walk decides, with or without a NUL."""
    assert nul_path({"note": "\ud800"}) is None
    assert nul_path({"ok": "fine", "note": ["\ud800" + NUL]}) == "note[0]"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_message_with_a_nul_in_a_text_is_refused_naming_the_field(fmt) -> None:
    note = ev.Note(text=f"a{NUL}b")
    event = r.JobEvent(id="E-1", job_id="J-1", hlc=hlc(1, 0), at=dt.datetime.now(dt.timezone.utc), payload=note)
    body = encode(m.PushRequest(mutations=[m.AppendEvent(seq=1, hlc=hlc(1, 0), event=event)]), fmt)
    with pytest.raises(InvalidValue) as err:
        decode(body, m.PushRequest, fmt)
    assert (err.value.field, err.value.status) == ("mutations[0].event.payload.text", 422)


def test_a_json_backslash_before_u0000_is_no_nul() -> None:
    assert decode(b'{"cursor": "a\\\\u0000"}', m.PullRequest, JSON).cursor == "a\\u0000"


def test_a_form_holding_a_nul_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidValue) as err:
        convert({"id": "C-1", "name": f"Evil{NUL}Corp"}, r.Customer)
    assert err.value.field == "name"


def test_a_patch_holding_a_nul_is_rejected_naming_the_field() -> None:
    site = r.Site(id="S-1", customer_id="C-1", name="Plant")
    with pytest.raises(SyncRejected) as err:
        check_patch("site", site, {"access_notes": f"gate{NUL}"}, side="field")
    assert (err.value.reason, err.value.field) == ("invalid", "fields.access_notes")
