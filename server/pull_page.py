"""Encoding a pull page without re-validating every record, alone or in a push answer.

Records are stored as the JSON of their Struct, already validated when written. A page of
thousands of them is a ``SplicedPullPage``: the stored JSON spliced in as it is for JSON clients,
or converted once per record to MessagePack for MessagePack clients; no record Struct is rebuilt
on the hot path.
"""

from __future__ import annotations

import msgspec

from sync_protocol import JSON, PushReply, Remove
from sync_protocol.codec import Format
from sync_protocol.messages import SplicedPullPage, SplicedPushReply, SplicedUpsert

from .pull import PullRows

_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()
_untyped = msgspec.json.Decoder()


def encode_page(rows: PullRows, server_hlc: str, fmt: Format) -> bytes:
    """The ``PullPage`` of ``docs/protocol.md`` for these rows, in ``fmt``."""
    if fmt == JSON:

        def spliced(data: str) -> msgspec.Raw:
            return msgspec.Raw(data.encode())
    else:

        def spliced(data: str) -> msgspec.Raw:
            return msgspec.Raw(_msgpack.encode(_untyped.decode(data)))

    changes: list[SplicedUpsert | Remove] = [
        Remove(entity=entity, id=record_id, reason=reason)  # type: ignore[arg-type]
        for entity, record_id, reason in rows.removes
    ]
    changes += [SplicedUpsert(version=version, record=spliced(data)) for version, data in rows.upserts]
    page = SplicedPullPage(changes=changes, cursor=rows.cursor, more=rows.more, server_hlc=server_hlc)
    return _json.encode(page) if fmt == JSON else _msgpack.encode(page)


def encode_push_reply(answer: PushReply, rows: PullRows | None, server_hlc: str, fmt: Format) -> bytes:
    """The ``PushReply`` of a push that asked for a pull: the page spliced in as a pull would
    send it, or left out when none was computed (the laptop then pulls as usual)."""
    page = None if rows is None else msgspec.Raw(encode_page(rows, server_hlc, fmt))
    spliced = SplicedPushReply(
        results=answer.results,
        high_seq=answer.high_seq,
        server_hlc=answer.server_hlc,
        high_hlc=answer.high_hlc,
        pull=page,
    )
    return _json.encode(spliced) if fmt == JSON else _msgpack.encode(spliced)
