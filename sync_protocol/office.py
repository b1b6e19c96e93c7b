"""Messages of the office API (``/api/v1/...``): what dispatchers' and supervisors' tools exchange.

These are not part of the sync protocol a laptop speaks; they live here, beside it, so that the
office pages, the JSON API and its OpenAPI schema share one definition of each shape. Records
inside them are the sync records of ``records.py``: an integration sees exactly what a laptop
would see, plus the ``version`` it needs to make an edit that merges three-way.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from .bounds import MAX_BYTES, MAX_COMMENT, MAX_LIST, MAX_PATCH_FIELDS, MAX_STOCK
from .events import EventPayload
from .records import Conflict, Customer, Drawing, Equipment, Job, JobStatus, Record, Site
from .types import Hlc, Id, Name, Severity, Text, Timestamp

SlaTarget = Literal["respond", "onsite", ""]
SlaState = Literal["ok", "at_risk", "overdue", ""]
BackupOutcome = Literal["verified", "waived", "missing"]


class _OfficeMessage(msgspec.Struct, kw_only=True):
    """Office messages keep their defaults on the wire: integrations read every field."""


# --- jobs -------------------------------------------------------------------------------------


class JobSummary(_OfficeMessage, kw_only=True):
    """One row of the dispatch board: the job, names resolved, and its running SLA clock.

    ``sla_target`` says which promise is running: ``respond`` until someone is assigned,
    ``onsite`` until the engineer checks in, nothing after that. ``sla_left_s`` is negative
    once the deadline has passed (then ``overdue`` is true). ``sla_state`` is the clock's colour
    (``sync_protocol.sla.clock_state``): ``at_risk`` (amber) before ``overdue`` (red), empty
    when no promise is running. ``name`` is how the office names the job in text: both numbers,
    ``SR-2026-0001 (J-0001)``, the office's and the engineers'.
    """

    id: Id
    number: Name
    kind: str
    status: JobStatus
    severity: Severity
    fault: Text
    customer_id: Id
    customer_name: Name
    site_id: Id
    site_name: Name
    assignee: Id | None
    assignee_name: Name
    reported_by: Name
    reported_at: Timestamp
    respond_by: Timestamp | None
    onsite_by: Timestamp | None
    sla_target: SlaTarget
    sla_due: Timestamp | None
    sla_left_s: int | None
    overdue: bool
    sla_state: SlaState = ""
    name: Name = ""
    flags: list[Name]
    signature_state: str
    version: int


class IntakeRequest(_OfficeMessage, kw_only=True):
    """A fault report taken in by the service centre; it becomes a job (``new`` or ``assigned``)."""

    customer_id: Id
    site_id: Id
    equipment_ids: Annotated[list[Id], Meta(max_length=MAX_LIST)] = []
    fault: Annotated[str, Meta(min_length=1, max_length=4000)]
    severity: Severity
    reported_by: Name = ""
    reported_at: Timestamp | None = None  # default: now
    assignee: Id | None = None  # user id or name of an engineer, to assign at once


class JobEdit(_OfficeMessage, kw_only=True):
    """The office-owned facts of a job that a dispatcher may correct after intake."""

    base_version: Annotated[int, Meta(ge=0, le=MAX_BYTES)]
    fault: Annotated[str, Meta(max_length=4000)] | None = None
    severity: Severity | None = None


# --- reference data and edits ----------------------------------------------------------------


class VersionedRecord(_OfficeMessage, kw_only=True):
    """A record with the server version an edit of it must name as ``base_version``."""

    version: int
    record: Record


class RecordEdit(_OfficeMessage, kw_only=True):
    """Change some fields of a record, made on ``base_version``: merged exactly like a laptop's patch."""

    base_version: Annotated[int, Meta(ge=0, le=MAX_BYTES)]
    fields: Annotated[dict[Name, Any], Meta(max_length=MAX_PATCH_FIELDS)]


class EditReply(_OfficeMessage, kw_only=True):
    """What became of an office edit: ``applied``, ``merged`` or ``conflict`` (with the conflict ids)."""

    entity: Name
    id: Id
    status: Literal["applied", "merged", "conflict", "unchanged"]
    version: int
    conflicts: list[Id] = []
    message: str = ""


class DrawingCreate(_OfficeMessage, kw_only=True):
    """A drawing whose file was already uploaded with ``PUT /sync/v1/blobs/{sha256}``."""

    id: Id
    site_id: Id
    title: Name
    kind: Literal["cable_routes", "construction", "installation", "network", "other"] = "other"
    filename: Name
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class StockCreate(_OfficeMessage, kw_only=True):
    """A new stock row; its id is ``{location}|{sku}``."""

    location: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^(van|warehouse):[A-Za-z0-9_.@-]+$")]
    sku: Id
    qty: Annotated[int, Meta(ge=-MAX_STOCK, le=MAX_STOCK)] = 0


class StockAdjust(_OfficeMessage, kw_only=True):
    """Goods received (positive) or issued (negative): a delta, so it commutes with laptops' swaps."""

    delta: Annotated[int, Meta(ge=-1_000_000, le=1_000_000)]


# --- conflicts --------------------------------------------------------------------------------


class ResolveRequest(_OfficeMessage, kw_only=True):
    """``accepted``: the rule's result stands. ``overridden``: write the other value instead."""

    resolution: Literal["accepted", "overridden"]


class ResolveReply(_OfficeMessage, kw_only=True):
    conflict: Conflict
    version: int
    record_version: int | None = None  # the edited record's version after an override


# --- job sheet --------------------------------------------------------------------------------


class SheetEvent(_OfficeMessage, kw_only=True):
    """One line of the timeline: the event, who recorded it, and whether the signature covers it."""

    id: Id
    hlc: Hlc
    at: Timestamp
    kind: Name
    author: Id
    author_name: Name
    payload: EventPayload
    signed: bool  # part of the sheet the latest signature was made on


class SignatureView(_OfficeMessage, kw_only=True):
    """The latest signature: ``valid``, or ``outdated`` with what changed since it was made."""

    event_id: Id
    signer: Name
    role: Name
    image_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    signed_at: Timestamp
    state: Literal["valid", "outdated"]
    added_events: list[Id] = []
    missing_events: list[Id] = []
    job_changed: bool = False  # the job's sheet fields (fault, equipment) changed since
    changes: list[Text] = []  # what changed since, in words: what, by whom, when


class JobSheet(_OfficeMessage, kw_only=True):
    """The complete synced service sheet of a job, as the office reviews and prints it."""

    job: Job
    version: int
    customer: Customer | None
    site: Site | None
    equipment: list[Equipment]
    drawings: list[Drawing]
    events: list[SheetEvent]
    signature: SignatureView | None
    conflicts: list[Conflict]


# --- backup audit -----------------------------------------------------------------------------


class AuditFinding(_OfficeMessage, kw_only=True):
    """One engineer's repair work on one job, and whether a backup came first."""

    job_id: Id
    job_number: Name
    engineer: Id
    engineer_name: Name
    first_repair_at: Timestamp
    repairs: int
    outcome: BackupOutcome
    reason: Text  # the waiver's reason, or what is missing
    backup_sha256: str | None = None
    acknowledged_without_backup: bool = False
    # The backup (or waiver) that counted: when it was made, where it was stored, how it was made.
    backup_at: Timestamp | None = None
    backup_stored_at: Text = ""
    backup_method: Text = ""
    # The supervisor's latest review of the finding (none yet: ``reviewed_by`` is null).
    reviewed_by: Id | None = None
    reviewed_by_name: Name = ""
    reviewed_at: Timestamp | None = None
    review_comment: Text = ""


class ReviewRequest(_OfficeMessage, kw_only=True):
    """Mark a finding reviewed: what the supervisor looked at and concluded."""

    comment: Annotated[str, Meta(max_length=MAX_COMMENT)]


class FindingReview(_OfficeMessage, kw_only=True):
    """A finding's review as stored (server-side only: no laptop ever receives it)."""

    job_id: Id
    engineer: Id
    reviewed_by: Id
    reviewed_by_name: Name
    reviewed_at: Timestamp
    comment: Text
    version: int  # 1 at the first review of the finding; the audit chain keeps every earlier one


class EngineerAudit(_OfficeMessage, kw_only=True):
    engineer: Id | None  # None in the totals over all engineers
    engineer_name: Name
    jobs: int
    verified: int
    waived: int
    missing: int
    compliance_pct: float | None  # (verified + waived) / jobs; None without jobs


class WeekCompliance(_OfficeMessage, kw_only=True):
    """One week (Monday to Sunday) of an engineer's trend; ``compliance_pct`` None without repairs."""

    week_start: dt.date
    jobs: int
    compliance_pct: float | None


class EngineerTrend(_OfficeMessage, kw_only=True):
    engineer: Id
    engineer_name: Name
    weeks: list[WeekCompliance]


class AuditReport(_OfficeMessage, kw_only=True):
    period_from: dt.date | None
    period_to: dt.date | None
    engineer: Id | None
    totals: EngineerAudit
    engineers: list[EngineerAudit]
    findings: list[AuditFinding]
