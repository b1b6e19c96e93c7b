"""Encoding a pull page without re-validating every record.

Records are stored as the JSON of their Struct, already validated when written. A page of
thousands of them is encoded by splicing that JSON (``msgspec.Raw``) for JSON clients, or by
one untyped decode per record for MessagePack clients: no Struct is rebuilt on the hot path.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sync_protocol import JSON
from sync_protocol.codec import Format

from .pull import PullRows

_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()
_untyped = msgspec.json.Decoder()


def encode_page(rows: PullRows, server_hlc: str, fmt: Format) -> bytes:
    """The ``PullPage`` of ``docs/protocol.md`` for these rows, in ``fmt``."""
    as_record: Any = msgspec.Raw if fmt == JSON else _untyped.decode
    changes: list[dict[str, Any]] = [
        {"op": "remove", "entity": entity, "id": record_id, "reason": reason}
        for entity, record_id, reason in rows.removes
    ]
    changes += [{"op": "upsert", "version": version, "record": as_record(data.encode() if fmt == JSON else data)}
                for version, data in rows.upserts]
    page = {"changes": changes, "cursor": rows.cursor, "more": rows.more, "server_hlc": server_hlc}
    return _json.encode(page) if fmt == JSON else _msgpack.encode(page)
