"""Loading a fixture data set (``fixtures/demo/data.json``) into a server store.

The format is ``{"format": "fieldsync-fixtures/1", "users": [...], "records": [...],
"blobs": [...]}``; records are the protocol's record maps (tag ``entity``), blobs name files
relative to the data file. Loading is idempotent: users are matched by name, unchanged records
keep their version (laptops do not re-download them), blobs are content-addressed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from sync_protocol import InvalidValue, MalformedMessage, Record, entity_of

from . import auth, store
from .blobs import BlobStore, file_sha256, record_blob
from .database import Database

FORMAT = "fieldsync-fixtures/1"


class FixtureUser(msgspec.Struct, kw_only=True):
    id: str
    name: str
    display_name: str = ""
    role: str


class FixtureBlob(msgspec.Struct, kw_only=True):
    sha256: str
    path: str
    media_type: str = "application/octet-stream"


class FixtureSet(msgspec.Struct, kw_only=True):
    format: str
    users: list[FixtureUser] = []
    records: list[Record] = []
    blobs: list[FixtureBlob] = []


class LoadReport(msgspec.Struct, kw_only=True):
    users: int
    records: int
    unchanged: int
    blobs: int


def read_fixtures(path: Path) -> FixtureSet:
    """Parse and validate a fixture file; errors name the offending entry."""
    try:
        data = msgspec.json.decode(path.read_bytes(), type=FixtureSet)
    except msgspec.ValidationError as exc:
        raise MalformedMessage(f"{path}: {exc}", field="records") from None
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"{path} is not JSON: {exc}", field="body") from None
    if data.format != FORMAT:
        raise InvalidValue(f"{path}: format must be {FORMAT!r}, not {data.format!r}", field="format")
    return data


def load_fixtures(db: Database, blobs: BlobStore, path: Path) -> LoadReport:
    """Load users, records and blob files of a fixture set, all records in one transaction."""
    data = read_fixtures(path)
    stored_blobs = 0
    for blob in data.blobs:
        source = (path.parent / blob.path).resolve()
        if not source.is_relative_to(path.parent.resolve()) or not source.is_file():
            raise InvalidValue(f"blob file {blob.path} not found beside {path.name}", field="blobs.path")
        if file_sha256(source) != blob.sha256:
            raise InvalidValue(f"{blob.path} does not hash to {blob.sha256}", field="blobs.sha256")
        sha, size = blobs.add_file(source)
        db.write(lambda c, sha=sha, size=size, mt=blob.media_type: record_blob(c, sha, size, mt, "fixtures"))
        stored_blobs += 1

    def work(conn: Any) -> LoadReport:
        for user in data.users:
            auth.add_user(conn, user.name, user.role, user.display_name, user_id=user.id)
        changed = [r for r in data.records if _differs(conn, r)]
        store.put_many(conn, changed)
        return LoadReport(users=len(data.users), records=len(changed),
                          unchanged=len(data.records) - len(changed), blobs=stored_blobs)

    return db.write(work)


def _differs(conn: Any, record: Record) -> bool:
    stored = store.get(conn, entity_of(record), record.id)
    return stored is None or json.loads(store.encode_record(stored.record)) != \
        json.loads(store.encode_record(record))
