"""The job sheet as synced: what the office reviews, prints and hands to the customer.

Everything on it comes from the store as the laptops pushed it: the job, its site, customer,
equipment and drawings, every event in clock order, and the latest signature. The signature's
state is recomputed here from the sheet hash (not just read from the job), and when it signs
an older version the sheet says what changed since: events added, events missing, or the
job's own sheet fields.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from sync_protocol import Job, JobEvent, NotFound, Signature, kind_of, sheet_events, sheet_hash
from sync_protocol.office import JobSheet, SheetEvent, SignatureView

from .. import store
from .conflict_queue import list_conflicts


def _user_names(conn: sqlite3.Connection) -> dict[str, str]:
    return {r["id"]: r["display_name"] for r in conn.execute("SELECT id, display_name FROM users")}


def _children(conn: sqlite3.Connection, entity: str, parent: str) -> list[Any]:
    rows = conn.execute("SELECT data FROM records WHERE entity=? AND parent=? AND deleted=0 ORDER BY id",
                        (entity, parent)).fetchall()
    return [store.decode_record(r["data"]) for r in rows]


def signature_view(job: Job, events: list[JobEvent]) -> SignatureView | None:
    """The latest signature and whether the sheet still hashes to what was signed."""
    signatures = sorted((e for e in events if isinstance(e.payload, Signature)), key=lambda e: (e.hlc, e.id))
    if not signatures:
        return None
    latest = signatures[-1]
    sig: Signature = latest.payload  # type: ignore[assignment]
    valid = sig.sheet_hash == sheet_hash(job, events)
    now_ids = [e.id for e in sheet_events(events)]
    added = [i for i in now_ids if i not in set(sig.event_ids)]
    missing = [i for i in sig.event_ids if i not in set(now_ids)]
    return SignatureView(event_id=latest.id, signer=sig.signer, role=sig.role, image_sha256=sig.image_sha256,
                         signed_at=latest.at, state="valid" if valid else "outdated",
                         added_events=[] if valid else added, missing_events=[] if valid else missing,
                         job_changed=not valid and not added and not missing)


def job_sheet(conn: sqlite3.Connection, job_id: str) -> JobSheet:
    stored = store.get(conn, "job", job_id)
    if stored is None:
        raise NotFound(f"no job {job_id}", field="job_id")
    job: Job = stored.record  # type: ignore[assignment]
    site = store.get(conn, "site", job.site_id)
    customer = store.get(conn, "customer", job.customer_id)
    equipment = [e.record for eid in job.equipment_ids if (e := store.get(conn, "equipment", eid))]
    events = sorted(store.job_events(conn, job_id), key=lambda e: (e.hlc, e.id))
    signature = signature_view(job, events)
    signed_ids: set[str] = set()
    if signature is not None:
        latest = next(e for e in events if e.id == signature.event_id)
        signed_ids = set(latest.payload.event_ids)  # type: ignore[union-attr]
    names = _user_names(conn)
    timeline = [SheetEvent(id=e.id, hlc=e.hlc, at=e.at, kind=kind_of(e.payload), author=e.author,
                           author_name=names.get(e.author, e.author), payload=e.payload,
                           signed=e.id in signed_ids) for e in events]
    return JobSheet(
        job=job, version=stored.version,
        customer=customer.record if customer else None,  # type: ignore[arg-type]
        site=site.record if site else None,  # type: ignore[arg-type]
        equipment=equipment,  # type: ignore[arg-type]
        drawings=_children(conn, "drawing", job.site_id),
        events=timeline, signature=signature,
        conflicts=[c for c, _ in list_conflicts(conn, status=None, job_id=job_id)])


def hlc_time(hlc: str) -> dt.datetime:
    """The wall-clock part of a hybrid logical clock stamp (for people reading who/when)."""
    return dt.datetime.fromtimestamp(int(hlc[:12], 16) / 1000, dt.timezone.utc)

