"""Canonical hashing: the same record hashes the same on every machine and in every language.

The canonical form is the record's JSON with object keys sorted, no whitespace, UTF-8, and
default-valued fields omitted; the hash is its SHA-256 in lower-case hex. A signature binds the
sheet hash, so the hash must not move when nothing the customer saw has moved.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import msgspec

from .events import NOT_ON_SHEET, kind_of
from .records import Job, JobEvent

# The job fields a customer sees on the sheet. Scheduling fields (assignee, deadlines,
# status) are the office's business and do not invalidate a signature when they change.
SHEET_JOB_FIELDS = ("id", "number", "customer_id", "site_id", "equipment_ids", "fault")


def canonical_bytes(value: Any) -> bytes:
    """Sorted-key compact JSON of any Struct or plain value."""
    return msgspec.json.encode(msgspec.to_builtins(value), order="sorted")


def record_hash(value: Any) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def sheet_events(events: Iterable[JobEvent]) -> list[JobEvent]:
    """The events that make up the service sheet, in clock order (ties by id)."""
    return sorted((e for e in events if kind_of(e.payload) not in NOT_ON_SHEET), key=lambda e: (e.hlc, e.id))


def sheet_hash(job: Job, events: Iterable[JobEvent]) -> str:
    """Hash of what the customer signs: the job's sheet fields and every sheet event."""
    job_part = {name: getattr(job, name) for name in SHEET_JOB_FIELDS}
    event_part = [{"id": e.id, "hlc": e.hlc, "payload": e.payload} for e in sheet_events(events)]
    return record_hash({"job": job_part, "events": event_part})
