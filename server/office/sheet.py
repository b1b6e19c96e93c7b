"""The job sheet as synced: what the office reviews, prints and hands to the customer.

Everything on it comes from the store as the laptops pushed it: the job, its site, customer,
equipment and drawings, every event in clock order, and the latest signature. The signature's
state is recomputed here from the sheet hash (not just read from the job), and when it signs
an older version the sheet says what changed since, in words (``sync_protocol.signatures``):
what was added, by whom and when, events missing, or the job's own sheet fields corrected.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from sync_protocol import Job, JobEvent, NotFound, Signature, changes_in_words, check_signature, kind_of
from sync_protocol.i18n import N_
from sync_protocol.office import JobSheet, SheetEvent, SignatureView

from .conflict_queue import list_conflicts
from ..storage import Tx, devices
from ..storage import records as store


def _user_names(conn: Tx) -> dict[str, str]:
    return devices.display_names(conn)


def _children(conn: Tx, entity: str, parent: str) -> list[Any]:
    return store.children(conn, entity, parent)


def signature_view(job: Job, events: list[JobEvent], names: Mapping[str, str] | None = None) -> SignatureView | None:
    """The latest signature, whether the sheet still hashes to what was signed, and if not,
    what changed since in words (``names``: user ids to the names people know)."""
    check = check_signature(job, events)
    if check is None:
        return None
    latest = check.signature
    sig: Signature = latest.payload  # type: ignore[assignment]
    return SignatureView(
        event_id=latest.id,
        signer=sig.signer,
        role=sig.role,
        image_sha256=sig.image_sha256,
        signed_at=latest.at,
        state="valid" if check.valid else "outdated",
        added_events=[e.id for e in check.added],
        missing_events=check.missing,
        job_changed=check.job_changed,
        changes=changes_in_words(check, names or {}),
    )


def job_sheet(conn: Tx, job_id: str) -> JobSheet:
    stored = store.get(conn, "job", job_id)
    if stored is None:
        raise NotFound(N_("no job {id}", id=job_id), field="job_id")
    job: Job = stored.record
    site = store.get(conn, "site", job.site_id)
    customer = store.get(conn, "customer", job.customer_id)
    equipment = [e.record for eid in job.equipment_ids if (e := store.get(conn, "equipment", eid))]
    events = sorted(store.job_events(conn, job_id), key=lambda e: (e.hlc, e.id))
    names = _user_names(conn)
    signature = signature_view(job, events, names)
    signed_ids: set[str] = set()
    if signature is not None:
        latest = next(e for e in events if e.id == signature.event_id)
        signed_ids = set(latest.payload.event_ids)  # type: ignore[union-attr]
    timeline = [
        SheetEvent(
            id=e.id,
            hlc=e.hlc,
            at=e.at,
            kind=kind_of(e.payload),
            author=e.author,
            author_name=names.get(e.author, e.author),
            payload=e.payload,
            signed=e.id in signed_ids,
        )
        for e in events
    ]
    return JobSheet(
        job=job,
        version=stored.version,
        customer=customer.record if customer else None,
        site=site.record if site else None,
        equipment=equipment,
        drawings=_children(conn, "drawing", job.site_id),
        events=timeline,
        signature=signature,
        conflicts=[c for c, _ in list_conflicts(conn, status=None, job_id=job_id)],
    )


def hlc_time(hlc: str) -> dt.datetime | str:
    """The wall-clock part of a hybrid logical clock stamp (for people reading who/when); the
    stamp itself when its time cannot be represented (a stamp stored before stamps were bounded)."""
    try:
        return dt.datetime.fromtimestamp(int(hlc[:12], 16) / 1000, dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return hlc
