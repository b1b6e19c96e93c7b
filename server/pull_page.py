"""Encoding a pull page without re-validating every record.

Records are stored as the JSON of their Struct, already validated when written. A page of
thousands of them is a ``SplicedPullPage``: the stored JSON spliced in as it is for JSON clients,
or converted once per record to MessagePack for MessagePack clients; no record Struct is rebuilt
on the hot path.
"""

from __future__ import annotations

import msgspec

from sync_protocol import JSON, Remove
from sync_protocol.codec import Format
from sync_protocol.messages import SplicedPullPage, SplicedUpsert

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
