"""Loading a fixture data set (``fixtures/demo/data.json``) into a server store.

The format is ``{"format": "fieldsync-fixtures/1", "as_of": ..., "users": [...], "records":
[...], "blobs": [...]}``; records are the protocol's record maps (tag ``entity``), blobs name files
relative to the data file.

``as_of`` (optional) makes the data set's dates relative to the moment it is loaded: the records
are written as the world stood at ``as_of``, and loading moves every time by ``now - as_of``
(whole minutes) and every date by the same number of calendar days. So the demo's jobs are
reported minutes to days before the load, a few of them overdue on purpose, whatever the day;
``now`` is injected for tests and demos that need the same world every time.

Loading is idempotent for the same ``now``: users are matched by name, unchanged records keep
their version (laptops do not re-download them), blobs are content-addressed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import msgspec

from sync_protocol import Equipment, InvalidValue, Job, MalformedMessage, Record, entity_of
from sync_protocol.bounds import nul_path, nul_refusal
from sync_protocol.warranty import job_warranty

from . import auth
from .blobstore import BlobStore, file_sha256
from .storage import Store
from .storage import blobs as blob_rows
from .storage import records as store

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
    as_of: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None  # None: load as written
    users: list[FixtureUser] = []
    records: list[Record] = []
    blobs: list[FixtureBlob] = []


class LoadReport(msgspec.Struct, kw_only=True):
    users: int
    records: int
    unchanged: int
    blobs: int
    dates_moved_to: dt.datetime | None = None  # what ``as_of`` became (None: dates as written)


def read_fixtures(path: Path) -> FixtureSet:
    """Parse and validate a fixture file; errors name the offending entry."""
    raw = path.read_bytes()
    try:
        data = msgspec.json.decode(raw, type=FixtureSet)
    except msgspec.ValidationError as exc:
        raise MalformedMessage(f"{path}: {exc}", field="records") from None
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"{path} is not JSON: {exc}", field="body") from None
    where = nul_path(data, raw)
    if where is not None:
        raise InvalidValue(f"{path}: {nul_refusal(where)}", field=where or "records")
    if data.format != FORMAT:
        raise InvalidValue(f"{path}: format must be {FORMAT!r}, not {data.format!r}", field="format")
    return data


def moved_to(data: FixtureSet, now: dt.datetime) -> FixtureSet:
    """The data set with its world moved from ``as_of`` to ``now`` (unchanged without ``as_of``)."""
    if data.as_of is None:
        return data
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    delta = now.replace(second=0, microsecond=0) - data.as_of
    days = dt.timedelta(days=(now.astimezone(dt.timezone.utc).date() - data.as_of.date()).days)
    return msgspec.structs.replace(
        data, as_of=data.as_of + delta, records=[_moved(r, delta, days) for r in data.records]
    )


def _moved(value: Any, delta: dt.timedelta, days: dt.timedelta) -> Any:
    """A record (or a Struct inside one) with its times moved by ``delta`` and its dates by ``days``."""
    changes = {}
    for name in value.__struct_fields__:
        field = getattr(value, name)
        if isinstance(field, dt.datetime):  # before date: a datetime is a date too
            changes[name] = field + delta
        elif isinstance(field, dt.date):
            changes[name] = field + days
        elif isinstance(field, msgspec.Struct):
            changes[name] = _moved(field, delta, days)
    return msgspec.structs.replace(value, **changes) if changes else value


def load_fixtures(db: Store, blobs: BlobStore, path: Path, now: dt.datetime | None = None) -> LoadReport:
    """Load users, records and blob files of a fixture set, all records in one transaction; a
    set with ``as_of`` is moved to ``now`` (default: the current time) first."""
    data = read_fixtures(path)
    if data.as_of is not None:
        data = moved_to(data, now or dt.datetime.now(dt.timezone.utc))
    stored_blobs = 0
    for blob in data.blobs:
        source = (path.parent / blob.path).resolve()
        if not source.is_relative_to(path.parent.resolve()) or not source.is_file():
            raise InvalidValue(f"blob file {blob.path} not found beside {path.name}", field="blobs.path")
        if file_sha256(source) != blob.sha256:
            raise InvalidValue(f"{blob.path} does not hash to {blob.sha256}", field="blobs.sha256")
        sha, size = blobs.add_file(source)
        db.write(lambda c, sha=sha, size=size, mt=blob.media_type: blob_rows.record(c, sha, size, mt, "fixtures"))
        stored_blobs += 1

    def work(conn: Any) -> LoadReport:
        for user in data.users:
            auth.add_user(conn, user.name, user.role, user.display_name, user_id=user.id)
        records = _with_derived_warranty(conn, data.records)
        changed = [r for r in records if _differs(conn, r)]
        store.put_many(conn, changed)
        return LoadReport(
            users=len(data.users),
            records=len(changed),
            unchanged=len(data.records) - len(changed),
            blobs=stored_blobs,
            dates_moved_to=data.as_of,
        )

    return db.write(work)


def _with_derived_warranty(conn: Any, records: list[Record]) -> list[Record]:
    """Jobs get the warranty their equipment had on the report date (``job_warranty``), as a job
    taken in by the office does: the fixture file's own value is not trusted."""
    loaded = {r.id: r for r in records if isinstance(r, Equipment)}

    def equipment(eid: str) -> Equipment | None:
        found = loaded.get(eid) or (stored.record if (stored := store.get(conn, "equipment", eid)) else None)
        return found if isinstance(found, Equipment) else None

    out: list[Record] = []
    for record in records:
        if isinstance(record, Job):
            pieces = [eq for eid in record.equipment_ids if (eq := equipment(eid)) is not None]
            record = msgspec.structs.replace(record, warranty=job_warranty(pieces, record.reported_at.date()))
        out.append(record)
    return out


def _differs(conn: Any, record: Record) -> bool:
    stored = store.get(conn, entity_of(record), record.id)
    return stored is None or json.loads(store.encode_record(stored.record)) != json.loads(store.encode_record(record))
