"""The supervisor's backup audit: did every repair follow a backup, per engineer and period?

DOMAIN.md's rule is "first make a backup of the system and important data, only then inspect
the system". A *finding* is one engineer's repair work (``part_swap`` events) on one job, dated
by their first swap's wall time. It is:

- ``verified``: a verified backup (with its checksum) was recorded on the job before that swap,
- ``waived``: no verified backup, but a waiver with its reason was recorded before it,
- ``missing``: neither; the reason says what was found instead (an unverified backup, a backup
  only after the repair, or a swap the engineer acknowledged making without one).

"Before" takes two orders that must agree: clock order (the hybrid logical clock: the order the
laptops say they recorded things in) and the order the server received them (each event's store
version: events are never changed, so it is their arrival). A laptop's clock is its own to set:
a waiver pushed after the swap but stamped an hour earlier does not count, and the finding says
so. Compliance is (verified + waived) / findings: a waiver with a reason is a permitted path, a
missing backup is not.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import quote
from collections import defaultdict

from sync_protocol import Backup, InvalidValue, Job, JobEvent, PartSwap, sentences
from sync_protocol.i18n import N_
from sync_protocol.bounds import as_utc
from sync_protocol.office import AuditFinding, AuditReport, EngineerAudit
from ..storage import Tx, devices, reviews
from ..storage import office as office_rows
from ..storage import records as store


CSV_COLUMNS = (
    "engineer",
    "engineer_name",
    "job_number",
    "job_id",
    "first_repair_at",
    "repairs",
    "outcome",
    "reason",
    "backup_sha256",
    "acknowledged_without_backup",
    "backup_at",
    "backup_stored_at",
    "backup_method",
    "time_zone",
    "sheet",
    "reviewed_by",
    "reviewed_at",
    "review_comment",
)
# Excel on a Chinese-locale Windows reads a CSV without a byte order mark as GBK and garbles
# every name; with it, as UTF-8.
BOM = "\ufeff"


def classify(
    events: list[JobEvent], first_swap: JobEvent, received: dict[str, int] | None = None
) -> tuple[str, str, str | None]:
    """(outcome, reason, backup sha256) of the backups recorded before ``first_swap``: before it by
    clock and, when ``received`` (event id -> the order the server received it in) is given, by
    arrival too."""
    outcome, reason, sha, _ = classified(events, first_swap, received)
    return outcome, reason, sha


def classified(
    events: list[JobEvent], first_swap: JobEvent, received: dict[str, int] | None = None
) -> tuple[str, str, str | None, JobEvent | None]:
    """``classify``, with the backup or waiver event that counted (None when missing)."""
    arrival = received or {}
    swap_arrival = arrival.get(first_swap.id, 0)
    by_clock = [
        (e, e.payload)
        for e in events
        if isinstance(e.payload, Backup) and (e.hlc, e.id) < (first_swap.hlc, first_swap.id)
    ]
    late = [e for e, _ in by_clock if arrival.get(e.id, 0) > swap_arrival]
    before = [(e, backup) for e, backup in by_clock if e not in late]
    verified = [(e, b) for e, b in before if not b.waived and b.counts_as_backup]
    if verified:
        return "verified", "", verified[-1][1].sha256, verified[-1][0]
    waived = [(e, b) for e, b in before if b.waived and b.counts_as_backup]
    if waived:
        return "waived", waived[-1][1].waive_reason, None, waived[-1][0]
    swap: PartSwap = first_swap.payload  # type: ignore[assignment]
    if before:
        reason = str(sentences.NOT_VERIFIED_BACKUP)
    elif late:
        reason = str(sentences.BACK_DATED)
    elif any(isinstance(e.payload, Backup) for e in events):
        reason = str(sentences.BACKUP_AFTER)
    else:
        reason = str(sentences.NO_BACKUP)
    if swap.no_backup_ack:
        reason = sentences.say(sentences.ACKNOWLEDGED, reason=reason)
    return "missing", reason, None, None


def findings_of_job(
    job: Job, events: list[JobEvent], names: dict[str, str], received: dict[str, int] | None = None
) -> list[AuditFinding]:
    events = sorted(events, key=lambda e: (e.hlc, e.id))
    swaps: dict[str, list[JobEvent]] = defaultdict(list)
    for event in events:
        if isinstance(event.payload, PartSwap):
            swaps[event.author].append(event)
    out = []
    for engineer, theirs in swaps.items():
        outcome, reason, sha, backup = classified(events, theirs[0], received)
        made = backup.payload if backup and isinstance(backup.payload, Backup) else None
        out.append(
            AuditFinding(
                job_id=job.id,
                job_number=job.number,
                engineer=engineer,
                engineer_name=names.get(engineer, engineer),
                first_repair_at=theirs[0].at,
                repairs=len(theirs),
                outcome=outcome,  # type: ignore[arg-type]
                reason=reason,
                backup_sha256=sha,
                acknowledged_without_backup=any(e.payload.no_backup_ack for e in theirs),  # type: ignore[union-attr]
                backup_at=backup.at if backup else None,
                backup_stored_at=made.stored_at if made else "",
                backup_method=made.method if made else "",
            )
        )
    return out


PRESETS = ("this_week", "this_month", "last_month")


def preset(name: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days of a named period around ``today`` (weeks start on Monday).

    >>> preset("last_month", dt.date(2026, 1, 15)), preset("this_week", dt.date(2026, 12, 3))[0]
    ((datetime.date(2025, 12, 1), datetime.date(2025, 12, 31)), datetime.date(2026, 11, 30))
    """
    if name == "this_week":
        start = today - dt.timedelta(days=today.weekday())
        return start, start + dt.timedelta(days=6)
    first = today.replace(day=1)
    if name == "this_month":
        return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    if name == "last_month":
        last = first - dt.timedelta(days=1)
        return last.replace(day=1), last
    raise InvalidValue(N_("period: one of {choices}", choices=", ".join(PRESETS)), field="period")


def _in_period(finding: AuditFinding, period_from: dt.date | None, period_to: dt.date | None) -> bool:
    """Whether the finding's first repair falls in the period (UTC days). A repair dated with a
    time that has no UTC day (stored before times were bounded) is in every period: a supervisor
    should see it rather than have it filtered away."""
    utc = as_utc(finding.first_repair_at)
    if utc is None:
        return True
    day = utc.date()
    return not ((period_from and day < period_from) or (period_to and day > period_to))


def tally(engineer: str | None, name: str, findings: list[AuditFinding]) -> EngineerAudit:
    """The counts and compliance of ``findings`` (one engineer's, or everyone's)."""
    counts = {k: sum(1 for f in findings if f.outcome == k) for k in ("verified", "waived", "missing")}
    total = len(findings)
    pct = round(100.0 * (counts["verified"] + counts["waived"]) / total, 1) if total else None
    return EngineerAudit(engineer=engineer, engineer_name=name, jobs=total, compliance_pct=pct, **counts)


def backup_audit(
    conn: Tx,
    engineer: str | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
) -> AuditReport:
    """The audit over every job with repair work in the period (dates inclusive, UTC)."""
    if period_from and period_to and period_from > period_to:
        raise InvalidValue(N_("the period ends before it starts"), field="to")
    users = devices.all_users(conn)
    names = {u["id"]: u["display_name"] for u in users}
    if engineer:
        match = [u for u in users if engineer in (u["id"], u["name"])]
        if not match:
            raise InvalidValue(N_("no user {name!r}", name=engineer), field="engineer")
        engineer = match[0]["id"]
    findings: list[AuditFinding] = []
    job: Job
    for job in office_rows.jobs_with_event(conn, "part_swap"):
        received = store.job_events_received(conn, job.id)
        for finding in findings_of_job(
            job, [e for e, _ in received], names, {e.id: version for e, version in received}
        ):
            if (engineer and finding.engineer != engineer) or not _in_period(finding, period_from, period_to):
                continue
            findings.append(finding)
    findings.sort(key=lambda f: (f.engineer_name, f.first_repair_at, f.job_number))
    with_reviews(findings, reviews.every(conn), names)
    per: dict[str, list[AuditFinding]] = defaultdict(list)
    for finding in findings:
        per[finding.engineer].append(finding)
    engineer_ids = (
        [engineer]
        if engineer
        else sorted({u["id"] for u in users if u["role"] == "engineer"} | set(per), key=lambda i: names.get(i, i))
    )
    return AuditReport(
        period_from=period_from,
        period_to=period_to,
        engineer=engineer,
        totals=tally(None, "all engineers", findings),
        engineers=[tally(i, names.get(i, i), per.get(i, [])) for i in engineer_ids],
        findings=findings,
    )


def with_reviews(
    findings: list[AuditFinding], latest: dict[tuple[str, str], reviews.Review], names: dict[str, str]
) -> None:
    """Name on each finding its latest review: by whom, when, and the comment."""
    for finding in findings:
        review = latest.get((finding.job_id, finding.engineer))
        if review is None:
            continue
        finding.reviewed_by = review.reviewed_by
        finding.reviewed_by_name = names.get(review.reviewed_by, review.reviewed_by)
        finding.reviewed_at = dt.datetime.fromisoformat(review.reviewed_at)
        finding.review_comment = review.comment


def local_time(moment: dt.datetime | None, tz: dt.tzinfo) -> str:
    """A time as a spreadsheet shows it: in the office's zone, to the second.

    >>> at = dt.datetime(2026, 11, 28, 7, 4, 5, 123456, tzinfo=dt.timezone.utc)
    >>> local_time(at, dt.timezone(dt.timedelta(hours=8)))
    '2026-11-28 15:04:05'
    """
    if moment is None:
        return ""
    try:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):
        return moment.isoformat()  # a time with no form in this zone, as it was sent


def to_csv(report: AuditReport, sheet_url: str = "/office/jobs/{job_id}", tz: dt.tzinfo = dt.timezone.utc) -> str:
    """One row per finding, with a link to its job sheet (give an absolute ``sheet_url``: the
    file is read away from the site), times in ``tz``, and a byte order mark first."""
    out = io.StringIO()
    out.write(BOM)
    zone = dt.datetime.now(tz).tzname() or str(tz)
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for f in report.findings:
        writer.writerow(
            [
                _cell(v)
                for v in [
                    f.engineer,
                    f.engineer_name,
                    f.job_number,
                    f.job_id,
                    local_time(f.first_repair_at, tz),
                    f.repairs,
                    f.outcome,
                    f.reason,
                    f.backup_sha256 or "",
                    "yes" if f.acknowledged_without_backup else "no",
                    local_time(f.backup_at, tz),
                    f.backup_stored_at,
                    f.backup_method,
                    zone,
                    sheet_url.format(job_id=quote(f.job_id, safe="")),
                    f.reviewed_by_name,
                    local_time(f.reviewed_at, tz),
                    f.review_comment,
                ]
            ]
        )
    return out.getvalue()


def _cell(value: object) -> str:
    """Text a spreadsheet would run as a formula (a waiver reason typed on a laptop) is quoted."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
