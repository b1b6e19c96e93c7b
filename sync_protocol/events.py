"""Job event payloads: what an engineer records on site, one Struct per kind.

A ``JobEvent`` (in ``records``) wraps one of these in ``payload``; the tag field ``kind``
names it. The kinds follow the service flow of DOMAIN.md: check-in, backup before any work,
diagnosis, quote and approval for paid work, part swaps, loaner, test, signature, resolution.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union, get_args

import msgspec
from msgspec import Meta

from .bounds import MAX_QUOTE_LINES, MAX_SIGNED_EVENTS
from .types import Bytes, Cents, Currency, Id, Name, Qty, Sha256, Text


class _Payload(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="kind", gc=False):
    pass


class Checkin(_Payload, tag="checkin", kw_only=True):
    note: Text = ""


class Backup(_Payload, tag="backup", kw_only=True):
    """The backup made before any work, or a waiver with its reason."""

    scope: Literal["system", "data", "config"] | None = None
    method: Text = ""
    stored_at: Text = ""
    size: Bytes | None = None
    sha256: Sha256 | None = None
    verified: bool = False
    waived: bool = False
    waive_reason: Text = ""

    def problem(self) -> tuple[str, str] | None:
        """(field, message) if this backup is not a complete record, else None."""
        if self.waived:
            return None if self.waive_reason.strip() else ("waive_reason", "a waived backup needs a reason")
        if self.scope is None:
            return ("scope", "scope is required: system, data or config")
        if self.sha256 is None:
            return ("sha256", "sha256 of the artifact (or its manifest) is required")
        return None

    @property
    def counts_as_backup(self) -> bool:
        """Whether repair work may follow it: verified, or waived with a reason."""
        return (self.waived and bool(self.waive_reason.strip())) or (self.verified and self.sha256 is not None)


Cause = Literal["hardware", "software", "human", "environment", "unknown"]


class Diagnosis(_Payload, tag="diagnosis", kw_only=True):
    cause: Cause
    findings: Text
    severity: Annotated[int, Meta(ge=1, le=4)] | None = None


class QuoteLine(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    sku: Id
    qty: Qty = 1
    unit_price_cents: Cents = 0


class Quote(_Payload, tag="quote", kw_only=True):
    lines: Annotated[list[QuoteLine], Meta(max_length=MAX_QUOTE_LINES)] = []
    labour_cents: Cents = 0
    currency: Currency = "CNY"

    @property
    def total_cents(self) -> int:
        return self.labour_cents + sum(line.qty * line.unit_price_cents for line in self.lines)


class CustomerApproval(_Payload, tag="customer_approval", kw_only=True):
    quote_event_id: Id
    approved_by: Name
    approved: bool = True


class PartSwap(_Payload, tag="part_swap", kw_only=True):
    """A part taken out and another put in; the new part's warranty restarts today."""

    equipment_id: Id
    sku: Id
    serial_out: Name
    serial_in: Name
    qty: Qty = 1
    location: Id | None = None
    warranty_until: dt.date | None = None
    no_backup_ack: bool = False
    notes: Text = ""


class Loaner(_Payload, tag="loaner", kw_only=True):
    device: Name
    returned: bool = False


class Test(_Payload, tag="test", kw_only=True):
    result: Literal["pass", "fail"]
    notes: Text = ""


class Note(_Payload, tag="note", kw_only=True):
    text: Text


class Photo(_Payload, tag="photo", kw_only=True):
    sha256: Sha256
    media_type: Name = "image/jpeg"
    caption: Text = ""


class Signature(_Payload, tag="signature", kw_only=True):
    """The customer's signature, bound to the sheet they saw (its hash and its events)."""

    signer: Name
    role: Name = ""
    image_sha256: Sha256
    sheet_hash: Sha256
    event_ids: Annotated[list[Id], Meta(max_length=MAX_SIGNED_EVENTS)] = []


class Resolution(_Payload, tag="resolution", kw_only=True):
    outcome: Literal["resolved", "escalated"]
    reason: Text = ""


EventPayload = Union[
    Checkin,
    Backup,
    Diagnosis,
    Quote,
    CustomerApproval,
    PartSwap,
    Loaner,
    Test,
    Note,
    Photo,
    Signature,
    Resolution,
]

# Every payload's tag, in the order of the union above: one list of kinds to keep.
EVENT_KINDS: tuple[str, ...] = tuple(cls.__struct_config__.tag for cls in get_args(EventPayload))
# Kinds that change the equipment and therefore must follow a backup (DOMAIN.md step 5).
REPAIR_KINDS = frozenset({"part_swap"})
# Kinds that are not part of the sheet a customer signs: the signature itself and the close-out.
NOT_ON_SHEET = frozenset({"signature", "resolution"})


def kind_of(payload: EventPayload) -> str:
    return type(payload).__struct_config__.tag  # type: ignore[return-value]
