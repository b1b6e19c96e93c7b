"""Whether the customer's signature still signs the sheet, and what changed since, in words.

A signature binds the sheet hash and the events the customer saw (``hashing.sheet_hash``). Work
recorded after it, or a correction of the job's fault or equipment, makes it sign an older
version: it is kept, and people are told what changed, when and by whom. The laptop shows it on
the job's sheet, the server marks the job and raises the conflict, the office shows it on the
sheet and in the conflict queue; all of them ask here, so all of them say the same thing.

>>> import datetime as dt
>>> from .events import Note, Signature
>>> from .records import Job, JobEvent
>>> at = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.timezone.utc)
>>> job = Job(id="J-1", number="SR-1", customer_id="C-1", site_id="S-1", severity=1, reported_at=at)
>>> signed = JobEvent(id="E-2", job_id="J-1", hlc="0000000000000002", at=at, author="u-li-wei",
...     payload=Signature(signer="Wang", image_sha256="0" * 64, sheet_hash=sheet_hash(job, []), event_ids=[]))
>>> note = JobEvent(id="E-3", job_id="J-1", hlc="0000000000000003", at=at + dt.timedelta(minutes=5),
...     author="u-li-wei", payload=Note(text="the filter was dusty"))
>>> check_signature(job, [signed]).valid
True
>>> check = check_signature(job, [signed, note])
>>> check.valid, [e.id for e in check.added]
(False, ['E-3'])
>>> changes_in_words(check, {"u-li-wei": "Li Wei"})
['a note added by Li Wei on 2026-11-18 09:35 UTC: "the filter was dusty"']
>>> signature_in_words(check, {"u-li-wei": "Li Wei"})
'the sheet changed after Wang signed it on 2026-11-18 09:30 UTC: a note added by Li Wei on ...dusty"'
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Mapping, NamedTuple

from .events import (
    Backup,
    Checkin,
    CustomerApproval,
    Diagnosis,
    EventPayload,
    Loaner,
    Note,
    PartSwap,
    Photo,
    Quote,
    Resolution,
    Signature,
    Test,
)
from . import sentences as S
from .hashing import sheet_events, sheet_hash
from .i18n import Moment
from .sentences import say
from .records import Job, JobEvent

# Free text quoted in a summary is cut here: the line says what changed, the sheet says it all.
# The job flag the office sets to ask the engineer to have an outdated sheet signed again; the
# next signature that signs the sheet as it stands clears it.
RESIGN_REQUESTED = "re_sign_requested"
QUOTED_CHARS = 80
# A conflict's detail lists this many changes, then counts the rest, and stays within a Text.
LISTED_CHANGES = 10
DETAIL_CHARS = 4000


class SignatureCheck(NamedTuple):
    signature: JobEvent  # the latest signature on the job
    valid: bool  # it signs the sheet as it stands
    added: list[JobEvent]  # on the sheet now, recorded after (or without) the signature
    missing: list[str]  # ids of events it signed that are not on this sheet
    job_changed: bool  # the job's own sheet fields (fault, equipment) were corrected


def latest_signature(events: Iterable[JobEvent]) -> JobEvent | None:
    signatures = [e for e in events if isinstance(e.payload, Signature)]
    return max(signatures, key=lambda e: (e.hlc, e.id)) if signatures else None


def check_signature(job: Job, events: Iterable[JobEvent]) -> SignatureCheck | None:
    """The latest signature against the sheet of ``job`` and ``events`` (None: never signed)."""
    events = list(events)
    latest = latest_signature(events)
    if latest is None:
        return None
    signed: Signature = latest.payload  # type: ignore[assignment]
    if signed.sheet_hash == sheet_hash(job, events):
        return SignatureCheck(latest, True, [], [], False)
    on_sheet = sheet_events(events)
    signed_ids, now_ids = set(signed.event_ids), {e.id for e in on_sheet}
    added = [e for e in on_sheet if e.id not in signed_ids]
    missing = [i for i in signed.event_ids if i not in now_ids]
    return SignatureCheck(latest, False, added, missing, not added and not missing)


def when(at: dt.datetime) -> str:
    """A time as a stored sentence carries it: ``2026-11-18 09:35 UTC`` (a reader's page shows
    it in its own zone: ``i18n.Moment``)."""
    return Moment(at)


def event_in_words(payload: EventPayload) -> str:
    """What one event is, in a few words: ``a note: "..."``, ``a part swap: 1 x PSU-750W in EQ-001``."""
    noun, detail = _described(payload)
    return say(S.EVENT_WITH_DETAIL, noun=noun, detail=detail) if detail else noun


def _described(p: EventPayload) -> tuple[str, str]:
    """(what kind of thing, its gist) of an event: sentences of ``sentences``, in English."""
    if isinstance(p, Checkin):
        return str(S.A_CHECKIN), _quoted(p.note)
    if isinstance(p, Backup):
        if p.waived:
            return str(S.A_WAIVER), _quoted(p.waive_reason)
        return str(S.A_BACKUP), say(S.VERIFIED if p.verified else S.NOT_VERIFIED, scope=p.scope)
    if isinstance(p, Diagnosis):
        return str(S.A_DIAGNOSIS), S.joined([p.cause, _quoted(p.findings)], S.LISTED)
    if isinstance(p, Quote):
        return str(S.A_QUOTE), S.joined([f"{line.qty} x {line.sku}" for line in p.lines], S.LISTED) or str(
            S.LABOUR_ONLY
        )
    if isinstance(p, CustomerApproval):
        return str(S.AN_APPROVAL if p.approved else S.A_REFUSAL), p.approved_by
    if isinstance(p, PartSwap):
        return str(S.A_SWAP), say(S.SWAPPED, qty=p.qty, sku=p.sku, equipment=p.equipment_id, serial=p.serial_in)
    if isinstance(p, Loaner):
        return str(S.A_LOANER_RETURNED if p.returned else S.A_LOANER_LENT), p.device
    if isinstance(p, Test):
        return str(S.A_PASSED_TEST if p.result == "pass" else S.A_FAILED_TEST), _quoted(p.notes)
    if isinstance(p, Note):
        return str(S.A_NOTE), _quoted(p.text)
    if isinstance(p, Photo):
        return str(S.A_PHOTO), _quoted(p.caption)
    if isinstance(p, Signature):
        return str(S.A_SIGNATURE), p.signer
    if isinstance(p, Resolution):
        return str(S.THE_JOB_RESOLVED if p.outcome == "resolved" else S.THE_JOB_ESCALATED), _quoted(p.reason)
    return str(S.AN_EVENT), ""


def changes_in_words(check: SignatureCheck, names: Mapping[str, str]) -> list[str]:
    """What changed since the signature, one line each: what, by whom (``names`` maps user ids
    to names people know), when. English; ``sentences.in_language`` says a line in another."""
    lines = []
    for event in check.added:
        noun, detail = _described(event.payload)
        who = names.get(event.author) or event.author or str(S.SOMEONE)
        said = {"noun": noun, "who": who, "when": when(event.at)}
        lines.append(say(S.ADDED_WITH_DETAIL, detail=detail, **said) if detail else say(S.ADDED, **said))
    if check.missing:
        lines.append(say(S.SIGNED_EVENTS_GONE, count=len(check.missing)))
    if check.job_changed:
        lines.append(str(S.JOB_CORRECTED))
    return lines


def signature_in_words(check: SignatureCheck, names: Mapping[str, str]) -> str:
    """One sentence for a signature that signs an older version (a conflict's detail)."""
    signed: Signature = check.signature.payload  # type: ignore[assignment]
    changes = changes_in_words(check, names)
    listed = changes[:LISTED_CHANGES] + (
        [say(S.AND_MORE, count=len(changes) - LISTED_CHANGES)] if len(changes) > LISTED_CHANGES else []
    )
    text = say(S.SHEET_CHANGED, signer=signed.signer, when=when(check.signature.at), changes=S.joined(listed))
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    return '"' + (text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…") + '"'
