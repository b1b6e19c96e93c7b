"""The engineer's day as a Python API: one method per step of the service flow (DOMAIN.md 3-11).

``Workbench`` turns what an engineer types (a file to back up, ``SKU:QTY`` on a quote, "I swapped
this serial for that one") into the job events the protocol carries, and answers the questions
asked on site (which jobs first, is this covered, am I ready to leave coverage). The ``field``
command is a thin shell over it; the demo and the tests drive it directly.

>>> bench = Workbench(FieldClient(home))                                  # doctest: +SKIP
>>> bench.checkin("J-0001")                                               # doctest: +SKIP
>>> bench.backup("J-0001", scope="system", method="image", stored_at="NAS",
...              file=Path("backup.img"), verified=True)                  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable, NamedTuple

from sync_protocol import (
    Backup,
    Checkin,
    Conflict,
    CustomerApproval,
    Diagnosis,
    Drawing,
    Equipment,
    Job,
    JobEvent,
    Loaner,
    Note,
    Part,
    PartSwap,
    Photo,
    Quote,
    QuoteLine,
    Resolution,
    Signature,
    Stock,
    Test,
    changes_in_words,
    check_signature,
    sla,
    van,
)
from sync_protocol.i18n import N_
from sync_protocol.sentences import in_language
from sync_protocol.signatures import when
from sync_protocol.states import DONE_STATUSES, FIELD_WORK

from . import images, lookup, rules
from .blobcache import file_sha256
from .client import FieldClient
from .errors import InvalidAction, UnknownRecord
from .report import SyncReport


class Deadline(NamedTuple):
    what: str  # "respond" or "on site"
    at: dt.datetime
    left: dt.timedelta  # negative when missed


_SAYS = {"respond": "respond", "onsite": "on site"}


class Problem(str):
    """One thing missing before leaving coverage: English words (it is a ``str``), plus a
    ``code`` and the ``facts`` in it, for saying it in another language."""

    code: str
    facts: dict[str, Any]

    def __new__(cls, text: str, code: str, **facts: Any) -> "Problem":
        problem = super().__new__(cls, text)
        problem.code, problem.facts = code, facts
        return problem


class ReadyCheck(NamedTuple):
    ready: bool
    problems: list[str]
    last_sync_at: str | None
    jobs: int
    drawings: int


class Workbench:
    def __init__(self, client: FieldClient, now: Any = None) -> None:
        self.client = client
        self._now = now or (lambda: dt.datetime.now(dt.timezone.utc))

    # --- what to do first ----------------------------------------------------------------------

    def next_deadline(self, job: Job, checked_in: bool | None = None) -> Deadline | None:
        """The SLA promise still running (``sync_protocol.sla``); a check-in still in the outbox
        counts: the engineer is there. ``checked_in`` when the caller knows it (every job's at
        once: ``jobs_by_urgency``), else read from the job's events."""
        if checked_in is None:
            checked_in = sla.checked_in(self._events(job.id))
        running = sla.next_deadline(job, checked_in)
        if running is None:
            return None
        return Deadline(_SAYS[running.target], running.due, running.due - self._now())

    def jobs_by_urgency(self) -> list[tuple[Job, Deadline | None]]:
        """Open work first, the nearest deadline first, then severity."""
        far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        checked_in = self.client.checked_in_jobs()
        rows = [(job, self.next_deadline(job, job.id in checked_in)) for job in self.client.jobs()]
        return sorted(
            rows, key=lambda r: (r[0].status in DONE_STATUSES, r[1].at if r[1] else far, r[0].severity, r[0].number)
        )

    def parts(self, text: str = "") -> list[tuple[Part, int]]:
        """The catalog, or the parts whose SKU or name holds ``text`` (case ignored), each with
        how many the van holds now (pending swaps taken off)."""
        van_qty = {s.sku: s.qty for s in self.client.van_stock()}  # type: ignore[attr-defined]
        needle = text.casefold()
        return [
            (part, van_qty.get(part.id, 0))  # type: ignore[misc]
            for part in self.client.records("part")
            if needle in part.id.casefold() or needle in part.name.casefold()  # type: ignore[attr-defined]
        ]

    def van(self) -> list[tuple[Stock, Part | None]]:
        """What the van holds as the engineer will find it, with each part's catalog entry."""
        catalog = {part.id: part for part in self.client.records("part")}
        return [(stock, catalog.get(stock.sku)) for stock in self.client.van_stock()]  # type: ignore[misc,attr-defined]

    def site_names(self) -> dict[str, str]:
        return {site.id: site.name for site in self.client.records("site")}  # type: ignore[attr-defined]

    # --- the service flow ------------------------------------------------------------------------

    def checkin(self, job_id: str, note: str = "") -> JobEvent:
        return self.client.record_event(job_id, Checkin(note=note))

    def backup(
        self,
        job_id: str,
        *,
        scope: str,
        method: str,
        stored_at: str,
        file: Path | None = None,
        sha256: str | None = None,
        size: int | None = None,
        verified: bool = False,
    ) -> JobEvent:
        """Record the backup made before any work. With ``file`` the laptop hashes the artifact
        itself (streamed, any size); ``verified`` with a file re-reads it and compares."""
        if file is not None:
            path = Path(file)
            if not path.is_file():
                raise InvalidAction(N_("no backup file {path}", path=str(path)), field="file")
            sha256, size = file_sha256(path), path.stat().st_size
            if verified and file_sha256(path) != sha256:
                raise InvalidAction(
                    N_("{path} changed while it was verified: back it up again", path=str(path)), field="file"
                )
        elif sha256 is None:
            raise InvalidAction(N_("give the backup file, or its sha256 and size"), field="file")
        return self.client.record_event(
            job_id,
            Backup(
                scope=scope,  # type: ignore[arg-type]
                method=method,
                stored_at=stored_at,
                size=size,
                sha256=sha256,
                verified=verified,
            ),
        )

    def waive_backup(self, job_id: str, reason: str) -> JobEvent:
        return self.client.record_event(job_id, Backup(waived=True, waive_reason=reason))

    def diagnose(self, job_id: str, cause: str, findings: str, severity: int | None = None) -> JobEvent:
        return self.client.record_event(
            job_id,
            Diagnosis(
                cause=cause,  # type: ignore[arg-type]
                findings=findings,
                severity=severity,
            ),
        )

    def warranty(self, job_id: str, equipment_id: str | None = None) -> dict[str, rules.Warranty]:
        """Covered or not, today, per equipment of the job."""
        job = self.client.job(job_id)
        ids = [self.client.record("equipment", equipment_id).id] if equipment_id else job.equipment_ids
        events = self._events(job.id)
        out = {}
        for eid in ids:
            eq = self.client.record("equipment", eid)
            out[eid] = rules.warranty_of(eq, events, self.client.today())  # type: ignore[arg-type]
        return out

    def quote(self, job_id: str, parts: list[str], labour_cents: int = 0) -> JobEvent:
        """``parts`` as ``SKU`` or ``SKU:QTY``; prices come from the catalog on the laptop."""
        lines = []
        for spec in parts:
            sku, count = part_and_qty(spec)
            part = self._part(sku)
            lines.append(QuoteLine(sku=part.id, qty=count, unit_price_cents=part.price_cents))
        return self.client.record_event(job_id, Quote(lines=lines, labour_cents=labour_cents))

    def approve(self, job_id: str, by: str, approved: bool = True) -> JobEvent:
        quote_id = rules.latest_quote_id(self._events(self.client.job(job_id).id))
        if quote_id is None:
            raise UnknownRecord(
                N_("job {job} has no quote to approve: record the quote first", job=job_id), field="quote"
            )
        return self.client.record_event(
            job_id, CustomerApproval(quote_event_id=quote_id, approved_by=by, approved=approved)
        )

    def swap(
        self,
        job_id: str,
        *,
        equipment: str,
        part: str,
        serial_out: str,
        serial_in: str,
        qty: int | None = None,
        location: str | None = None,
        no_backup_ack: bool = False,
        notes: str = "",
    ) -> tuple[JobEvent, str | None]:
        """Record a part swap (``part`` as ``SKU`` or ``SKU:QTY``, as on a quote); the new part's
        warranty restarts today. Returns the event and a warning when the van holds fewer than
        were taken (allowed, and flagged by the server)."""
        sku, count = part_and_qty(part)
        if qty is not None and ":" in part and qty != count:
            raise InvalidAction(
                N_(
                    "{part} says {count}, --qty says {qty}: give the quantity once",
                    part=repr(part),
                    count=count,
                    qty=qty,
                ),
                field="part",
            )
        qty = qty or count
        item = self._part(sku)
        equipment = self.client.record("equipment", equipment).id
        until = self.client.today() + dt.timedelta(days=item.warranty_days)
        event = self.client.record_event(
            job_id,
            PartSwap(
                equipment_id=equipment,
                sku=item.id,
                serial_out=serial_out,
                serial_in=serial_in,
                qty=qty,
                location=location,
                warranty_until=until,
                no_backup_ack=no_backup_ack,
                notes=notes,
            ),
        )
        warning = None
        if location is None or location == van(self._me()):
            left = {s.sku: s.qty for s in self.client.van_stock()}.get(item.id, 0)
            if left < 0:
                warning = f"the van now shows {left} x {item.id}: more taken than it held; the office will see it"
        return event, warning

    def loaner(self, job_id: str, device: str, returned: bool = False) -> JobEvent:
        return self.client.record_event(job_id, Loaner(device=device, returned=returned))

    def test(self, job_id: str, result: str, notes: str = "") -> JobEvent:
        return self.client.record_event(job_id, Test(result=result, notes=notes))  # type: ignore[arg-type]

    def note(self, job_id: str, text: str) -> JobEvent:
        return self.client.record_event(job_id, Note(text=text))

    def sign(
        self,
        job_id: str,
        signer: str,
        role: str,
        image: Path | bytes,
        again: bool = False,
        expected_sheet_hash: str | None = None,
    ) -> JobEvent:
        """The customer signs the sheet: ``image`` is a PNG file or its bytes (the laptop app's
        pad); an empty or dot-only image is refused, and ``expected_sheet_hash`` is the sheet they
        were shown. A job signed already needs ``again``: every signature is kept and printed on
        the customer's report, so a second one must be meant."""
        job = self.client.job(job_id)
        if not again:
            events = self._events(job.id)
            state = signature_state(job, events, self._names(job))
            if state["state"] != "none":
                since = (
                    "the sheet has not changed since"
                    if state["state"] == "valid"
                    else "the sheet changed since: " + "; ".join(state["changed"])
                )
                raise InvalidAction(
                    N_(
                        "{job} is already signed by {signer} on {when} ({since}); a second signature is "
                        "recorded beside the first",
                        job=job.number,
                        signer=state["signer"],
                        when=state["signed_at"],
                        since=since,
                    ),
                    field="again",
                )
        if not signer.strip():
            raise InvalidAction(N_("the customer's name is required"), field="signer")
        if not isinstance(image, bytes):
            if not Path(image).is_file():
                raise InvalidAction(N_("no signature image {path}", path=str(image)), field="image")
            image = Path(image).read_bytes()
        problem = images.signature_problem(image)
        if problem:
            raise InvalidAction(problem[1], field="image", code=problem[0])
        return self.client.sign(
            job.id, signer=signer.strip(), role=role.strip(), image=image, expected_sheet_hash=expected_sheet_hash
        )

    def photo(self, job_id: str, image: Path | bytes, caption: str = "") -> JobEvent:
        """A photo taken on site (a file, or the laptop camera's frame), kept as a blob and synced."""
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        media_type = images.sniff(data)
        if media_type not in ("image/png", "image/jpeg", "image/webp"):
            raise InvalidAction(N_("a photo must be a PNG, JPEG or WebP image"), field="photo", code="not_image")
        if len(data) > images.MAX_PHOTO_BYTES:
            raise InvalidAction(N_("the photo is larger than 25 MB"), field="photo", code="too_large")
        job = self.client.job(job_id)  # an unknown job is refused before the file is kept
        sha = self.client.add_blob(data, media_type)
        return self.client.record_event(job.id, Photo(sha256=sha, media_type=media_type, caption=caption))

    def resolve(self, job_id: str, again: bool = False) -> JobEvent:
        """The job is done. A job resolved already needs ``again`` (each one is on the report)."""
        job = self.client.job(job_id)
        done = [
            e for e in self._events(job.id) if isinstance(e.payload, Resolution) and e.payload.outcome == "resolved"
        ]
        if done and not again:
            raise InvalidAction(
                N_(
                    "{job} was already resolved on {when}; a second resolution is recorded beside the first",
                    job=job.number,
                    when=when(done[-1].at),
                ),
                field="again",
            )
        return self.client.record_event(job.id, Resolution(outcome="resolved"))

    def escalate(self, job_id: str, reason: str) -> JobEvent:
        if not reason.strip():
            raise InvalidAction(N_("say why the job is escalated"), field="reason")
        return self.client.record_event(job_id, Resolution(outcome="escalated", reason=reason))

    def edit(self, entity: str, record_id: str, assignments: list[str]) -> Any:
        """``FIELD=VALUE`` pairs, as typed on the command line."""
        if entity not in ("site", "equipment"):
            raise InvalidAction(N_("only sites and equipment hold facts observed on site"), field="entity")
        fields: dict[str, Any] = {}
        for item in assignments:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise InvalidAction(N_("{item}: write FIELD=VALUE", item=repr(item)), field="fields")
            fields[name] = value
        if "parameters" in fields:
            raise InvalidAction(N_("edit one parameter as parameters.NAME=VALUE"), field="parameters")
        params = {k.split(".", 1)[1]: fields.pop(k) for k in list(fields) if k.startswith("parameters.")}
        if params:
            current = self.client.record(entity, record_id)
            fields["parameters"] = {**getattr(current, "parameters", {}), **params}
        return self.client.edit(entity, record_id, **fields)

    # --- the sheet and the checks ------------------------------------------------------------------

    def sheet(self, job_id: str) -> dict[str, Any]:
        """Everything on site for one job, as plain data (the CLI renders it)."""
        job = self.client.job(job_id)
        site = self.client.record("site", job.site_id)
        events = self.client.events(job.id)
        plain = [e.event for e in events]
        equipment = [self.client.record("equipment", e) for e in job.equipment_ids]
        drawings = [d for d in self.client.records("drawing", job.site_id)]
        return {
            "job": job,
            "site": site,
            "customer": self._maybe("customer", site.customer_id),
            "equipment": [(eq, rules.warranty_of(eq, plain, self.client.today())) for eq in equipment],  # type: ignore[arg-type]
            "drawings": [(d, self.client.drawing_path(d)) for d in drawings],  # type: ignore[arg-type]
            "events": events,
            "deadline": self.next_deadline(job),
            "signature": signature_state(job, plain, self._names(job)),
            "conflicts": [c for c in self.client.conflicts() if c.job_id == job.id or c.record_id == job.site_id],  # type: ignore[attr-defined]
            "pending": sum(1 for e in events if e.pending),
        }

    def drawings(self, job_id: str) -> list[tuple[Drawing, Path | None]]:
        job = self.client.job(job_id)
        return [(d, self.client.drawing_path(d)) for d in self.client.records("drawing", job.site_id)]  # type: ignore[misc,arg-type]

    def drawing_file(self, drawing_id: str) -> Path:
        drawing: Drawing = self.client.record("drawing", drawing_id)  # type: ignore[assignment]
        path = self.client.drawing_path(drawing)
        if path is None:
            raise UnknownRecord(
                N_("drawing {drawing} is not on this laptop yet: run `field sync`", drawing=drawing_id), field="drawing"
            )
        return path

    def ready(self, verify_files: bool = True) -> ReadyCheck:
        """Can the engineer leave coverage? Every assigned job has its site, equipment and
        verified drawings here, the catalog is here, and nothing waits to be synced. Without
        ``verify_files`` a drawing's file is checked by its size, not re-hashed (a page that
        asks on every view; ``field ready`` re-hashes)."""
        problems: list[str] = []
        status = self.client.status()
        jobs = [j for j in self.client.jobs() if j.status in FIELD_WORK]
        drawings = 0
        for job in jobs:
            if self._maybe("site", job.site_id) is None:
                problems.append(
                    Problem(
                        f"{job.number}: site {job.site_id} missing", "site_missing", job=job.number, site=job.site_id
                    )
                )
            for eid in job.equipment_ids:
                if self._maybe("equipment", eid) is None:
                    problems.append(
                        Problem(
                            f"{job.number}: equipment {eid} missing", "equipment_missing", job=job.number, equipment=eid
                        )
                    )
            for drawing in self.client.records("drawing", job.site_id):
                drawings += 1
                path = self.client.blob_path(drawing.sha256)
                if path is None:
                    problems.append(
                        Problem(
                            f"{job.number}: drawing {drawing.id} not downloaded",
                            "drawing_missing",
                            job=job.number,
                            drawing=drawing.id,
                        )
                    )
                elif (
                    file_sha256(path) != drawing.sha256  # type: ignore[attr-defined]
                    if verify_files
                    else path.stat().st_size != drawing.size  # type: ignore[attr-defined]
                ):
                    problems.append(
                        Problem(
                            f"{job.number}: drawing {drawing.id} is damaged on disk; sync again",
                            "drawing_damaged",
                            job=job.number,
                            drawing=drawing.id,
                        )
                    )
        if not self.client.records("part"):
            problems.append(Problem("the parts catalog is not on this laptop", "no_catalog"))
        if status["pending"]:
            problems.append(
                Problem(f"{status['pending']} change(s) not synced yet", "unsynced", count=status["pending"])
            )
        if not status["last_sync_at"]:
            problems.append(Problem("never synced", "never_synced"))
        return ReadyCheck(not problems, problems, status["last_sync_at"], len(jobs), drawings)

    def conflicts_in_words(self, _: Callable[[str], str] | None = None) -> list[str]:
        """Each open conflict in words, in the language of ``_`` (English without it)."""
        return [explain(c, _ or _same) for c in self.client.conflicts()]  # type: ignore[arg-type]

    def news(self, report: SyncReport) -> tuple[list[Job], list[Conflict]]:
        """What a sync brought that the engineer must hear of: new jobs, and what was flagged
        for a person (open conflicts the laptop did not hold before)."""
        jobs = sorted(
            (job for job_id in report.new_jobs if (job := self._maybe("job", job_id)) is not None),
            key=lambda job: job.number,
        )
        flagged = set(report.flagged)
        return jobs, [c for c in self.client.conflicts() if c.id in flagged]  # type: ignore[misc]

    # --- plumbing ------------------------------------------------------------------------------------

    def _events(self, job_id: str) -> list[JobEvent]:
        return [v.event for v in self.client.events(job_id)]

    def _part(self, sku: str) -> Any:
        part = self._maybe("part", sku)
        if part is None:
            raise UnknownRecord(
                lookup.not_found("part", sku, self.client.suggest("part", sku), in_catalog=True), field="part"
            )
        return part

    def _maybe(self, entity: str, record_id: str) -> Any:
        try:
            return self.client.record(entity, record_id)
        except UnknownRecord:
            return None

    def _me(self) -> str:
        return str(self.client.status()["user_id"])

    def _names(self, job: Job) -> dict[str, str]:
        """The people this laptop knows by name: its engineer and the job's assignee."""
        status = self.client.status()
        names = {job.assignee: job.assignee_name} if job.assignee and job.assignee_name else {}
        return {**names, status["user_id"]: status["user_name"]} if status["user_id"] else names


def part_and_qty(spec: str) -> tuple[str, int]:
    """``SKU`` or ``SKU:QTY`` as typed for a quote or a swap (one syntax for both)."""
    sku, sep, qty = spec.rpartition(":")
    if not sep or not qty.lstrip("-").isdigit():
        return spec, 1
    if int(qty) < 1:
        raise InvalidAction(N_("{spec}: the quantity must be 1 or more", spec=repr(spec)), field="part")
    return sku, int(qty)


def signature_state(job: Job, events: list[JobEvent], names: dict[str, str]) -> dict[str, Any]:
    """The latest signature against the sheet as the laptop shows it now, pending work included:
    the engineer sees at once that a note added after signing makes the signature outdated, and
    what changed since, in words (``names``: user ids to the names people know)."""
    check = check_signature(job, events)
    if check is None:
        return {"state": "none", "changed": []}
    signed: Signature = check.signature.payload  # type: ignore[assignment]
    return {
        "state": "valid" if check.valid else "outdated",
        "signer": signed.signer,
        "signed_at": when(check.signature.at),
        "changed": changes_in_words(check, names),
    }


def _same(text: str) -> str:
    return text


def explain(conflict: Conflict, _: Callable[[str], str] = _same) -> str:
    """A conflict in the words of the engineer who has to live with it. ``_`` translates the
    sentence (the laptop app passes its catalog's gettext; the CLI speaks English)."""
    what = f"{conflict.record_entity} {conflict.record_id}"
    if conflict.kind == "field":
        return _(
            "{what}: {field} was changed here and in the office. Kept {kept!r}, set aside "
            "{other!r} ({rule}). The dispatcher will confirm."
        ).format(
            what=what,
            field=conflict.field,
            kept=conflict.kept,
            other=conflict.other,
            rule=in_language(conflict.rule, _),
        )
    detail = in_language(conflict.detail, _)
    if conflict.kind == "job_state":
        return _("job {job}: {detail}. Your work is kept; the dispatcher decides.").format(
            job=conflict.record_id, detail=detail
        )
    if conflict.kind == "stock":
        return _("van stock: {detail}. The office will restock or correct it.").format(detail=detail)
    if conflict.kind == "serial":
        return _("serial clash: {detail}.").format(detail=detail)
    if conflict.kind == "signature":
        changed = detail if not conflict.detail.startswith("{") else _("the sheet changed after the customer signed")
        return _(
            "job {job}: {changed}. The signature is kept but signs an older version: have the "
            "customer sign again if needed."
        ).format(job=conflict.record_id, changed=changed)
    return f"{what}: {in_language(conflict.detail or conflict.rule, _)}"


def equipment_line(eq: Equipment, warranty: rules.Warranty) -> str:
    params = ", ".join(f"{k}={v}" for k, v in eq.parameters.items())
    return (
        f"{eq.id:8} {eq.category:10} {eq.manufacturer} {eq.model} s/n {eq.serial}  {eq.location}"
        f"{'  fw ' + eq.firmware if eq.firmware else ''}  [{'covered' if warranty.covered else 'NOT covered'}: "
        f"{warranty.reason}]{'  ' + params if params else ''}"
    )
