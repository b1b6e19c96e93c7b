"""The supervisor's backup audit, and the job sheet as the office reviews it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import msgspec

from server.office import audit_report, sheet
from sync_protocol import Backup, Checkin, Job, JobEvent, PartSwap, Signature, sheet_events, sheet_hash
from sync_protocol.office import AuditReport

from .conftest import ROOT, bearer

SHA = "a" * 64
DAY = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
JOB = Job(id="J-1", number="SR-1", customer_id="C", site_id="S", severity=1, reported_at=DAY)


def ev(n: int, payload, author: str = "u-li-wei", at: dt.datetime = DAY) -> JobEvent:
    return JobEvent(id=f"E-{n:03d}", job_id="J-1", author=author, hlc=f"{n:016x}", at=at, payload=payload)


SWAP = PartSwap(equipment_id="EQ-1", sku="FAN", serial_out="A", serial_in="B")


def outcome(*events: JobEvent) -> tuple[str, str]:
    [finding] = audit_report.findings_of_job(JOB, list(events), {"u-li-wei": "Li Wei"})
    return finding.outcome, finding.reason


def test_a_verified_backup_before_the_swap_is_verified() -> None:
    assert outcome(ev(1, Backup(scope="system", sha256=SHA, verified=True)), ev(2, SWAP))[0] == "verified"


def test_a_waiver_with_its_reason_is_waived() -> None:
    assert outcome(ev(1, Backup(waived=True, waive_reason="disk dead, nothing to read")), ev(2, SWAP)) == (
        "waived",
        "disk dead, nothing to read",
    )


def test_clock_order_decides_before_not_arrival() -> None:
    # Recorded after the swap (later clock) even if listed first: it does not count.
    result = outcome(ev(5, Backup(scope="system", sha256=SHA, verified=True)), ev(2, SWAP))
    assert result == ("missing", "the backup was recorded only after the repair")


def test_unverified_and_acknowledged_are_missing_with_their_reason() -> None:
    assert outcome(ev(1, Backup(scope="data", sha256=SHA)), ev(2, SWAP))[1] == "a backup was recorded but not verified"
    reason = outcome(ev(2, msgspec.structs.replace(SWAP, no_backup_ack=True)))[1]
    assert reason == "no backup recorded; the engineer acknowledged working without one"


def test_each_engineer_answers_for_their_own_first_swap() -> None:
    findings = audit_report.findings_of_job(
        JOB,
        [
            ev(1, SWAP, author="u-zhang-min"),
            ev(2, Backup(scope="system", sha256=SHA, verified=True)),
            ev(3, SWAP),
            ev(4, SWAP),
        ],
        {},
    )
    by = {f.engineer: (f.outcome, f.repairs) for f in findings}
    assert by == {"u-zhang-min": ("missing", 1), "u-li-wei": ("verified", 2)}


def test_the_report_over_the_api_counts_per_engineer_and_filters_by_period(client, tokens, li_wei) -> None:
    li_wei.event("J-0001", {"kind": "backup", "scope": "system", "sha256": SHA, "verified": True})
    li_wei.event(
        "J-0001",
        {
            "kind": "part_swap",
            "equipment_id": "EQ-001",
            "sku": "PSU-750W",
            "serial_out": "PSU-OLD",
            "serial_in": "PSU-NEW",
        },
    )
    li_wei.event(
        "J-0002",
        {
            "kind": "part_swap",
            "equipment_id": "EQ-002",
            "sku": "FAN-80MM",
            "serial_out": "F-1",
            "serial_in": "F-2",
            "no_backup_ack": True,
        },
    )
    headers = bearer(tokens["zhao-lei"])

    report = msgspec.convert(
        client.get("/api/v1/audit/backups", headers=headers, params={"engineer": "li-wei"}).json(), AuditReport
    )

    assert (report.totals.jobs, report.totals.verified, report.totals.missing) == (2, 1, 1)
    assert report.totals.compliance_pct == 50.0
    assert [e.engineer for e in report.engineers] == ["u-li-wei"]
    missing = [f for f in report.findings if f.outcome == "missing"]
    assert missing[0].job_id == "J-0002" and missing[0].acknowledged_without_backup
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    later = client.get("/api/v1/audit/backups", headers=headers, params={"from": tomorrow}).json()
    assert later["findings"] == [] and later["totals"]["compliance_pct"] is None


def test_the_csv_has_a_row_per_finding_with_its_sheet_and_no_formulas(client, tokens, li_wei) -> None:
    li_wei.event("J-0001", {"kind": "backup", "waived": True, "waive_reason": '=HYPERLINK("x")'})
    li_wei.event(
        "J-0001",
        {
            "kind": "part_swap",
            "equipment_id": "EQ-001",
            "sku": "PSU-750W",
            "serial_out": "PSU-OLD",
            "serial_in": "PSU-NEW",
        },
    )

    answer = client.get("/api/v1/audit/backups.csv", headers=bearer(tokens["zhao-lei"]))

    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0]["sheet"] == "http://testserver.local/office/jobs/J-0001"  # absolute: read away from the site
    assert len(rows) == 1 and rows[0]["outcome"] == "waived"
    assert rows[0]["reason"].startswith("'=")


def test_the_audit_page_links_findings_to_sheets(client, tokens, li_wei) -> None:
    from .conftest import sign_in

    li_wei.event(
        "J-0002",
        {
            "kind": "part_swap",
            "equipment_id": "EQ-002",
            "sku": "FAN-80MM",
            "serial_out": "F-1",
            "serial_in": "F-2",
            "no_backup_ack": True,
        },
    )
    sign_in(client, tokens["zhao-lei"])
    page = client.get("/office/audit?engineer=u-li-wei")
    row = page.text.split('class="finding outcome-missing"')[1].split("</tr>")[0]
    assert 'href="/office/jobs/J-0002"' in row and "acknowledged" in row
    download = client.get("/office/audit/backups.csv?engineer=u-li-wei")
    assert download.text.count("\n") == 2
    assert download.headers["content-type"] == "text/csv; charset=utf-8"  # one charset, not two


# --- the sheet ----------------------------------------------------------------------------------


def _signed(events: list[JobEvent], job: Job = JOB) -> JobEvent:
    return ev(
        99,
        Signature(
            signer="Liu Yang",
            image_sha256=SHA,
            sheet_hash=sheet_hash(job, events),
            event_ids=[e.id for e in sheet_events(events)],
        ),
    )


def test_a_signature_is_valid_until_the_sheet_changes_and_then_says_what_changed() -> None:
    work = [ev(1, Checkin()), ev(2, SWAP)]
    signature = _signed(work)
    assert sheet.signature_view(JOB, [*work, signature]).state == "valid"

    late = ev(100, Checkin(note="came back"))
    outdated = sheet.signature_view(JOB, [*work, signature, late])
    assert outdated.state == "outdated" and outdated.added_events == ["E-100"]

    corrected = msgspec.structs.replace(JOB, fault="corrected afterwards")
    changed = sheet.signature_view(corrected, [*work, signature])
    assert changed.state == "outdated" and changed.job_changed and not changed.added_events


def test_the_sheet_page_shows_backup_swap_and_the_signature_image(client, tokens, li_wei, app) -> None:
    from .conftest import sign_in

    png = (ROOT / "fixtures" / "demo" / "signature.png").read_bytes()
    import hashlib

    image_sha = hashlib.sha256(png).hexdigest()
    put = client.put(
        f"/sync/v1/blobs/{image_sha}",
        params={"offset": 0, "size": len(png), "media_type": "image/png"},
        content=png,
        headers={**bearer(tokens["li-wei"]), "Content-Type": "application/octet-stream"},
    )
    assert put.status_code == 200, put.text
    li_wei.event("J-0001", {"kind": "checkin", "note": "owner on site"})
    li_wei.event("J-0001", {"kind": "backup", "scope": "system", "method": "image", "sha256": SHA, "verified": True})
    li_wei.event(
        "J-0001",
        {
            "kind": "part_swap",
            "equipment_id": "EQ-001",
            "sku": "PSU-750W",
            "serial_out": "PSU-OLD-7",
            "serial_in": "PSU-NEW-8",
        },
    )
    headers = bearer(tokens["chen-jing"])
    events = client.get("/api/v1/jobs/J-0001/sheet", headers=headers).json()["events"]
    job = msgspec.convert(client.get("/api/v1/jobs/J-0001/sheet", headers=headers).json()["job"], Job)
    stored = [msgspec.convert({**e, "job_id": "J-0001", "entity": "event"}, JobEvent) for e in events]
    li_wei.event(
        "J-0001",
        {
            "kind": "signature",
            "signer": "Liu Yang",
            "image_sha256": image_sha,
            "sheet_hash": sheet_hash(job, stored),
            "event_ids": [e.id for e in sheet_events(stored)],
        },
    )

    sheet_json = client.get("/api/v1/jobs/J-0001/sheet", headers=headers).json()
    assert sheet_json["signature"]["state"] == "valid"
    assert [e["kind"] for e in sheet_json["events"]] == ["checkin", "backup", "part_swap", "signature"]

    sign_in(client, tokens["chen-jing"])
    page = client.get("/office/jobs/J-0001").text
    assert SHA in page and "verified" in page and "PSU-OLD-7" in page and "PSU-NEW-8" in page
    assert f'src="/office/blobs/{image_sha}"' in page and 'id="signature-state">valid' in page
    image = client.get(f"/office/blobs/{image_sha}")
    assert image.status_code == 200 and image.content == png and image.headers["content-type"] == "image/png"


def test_a_file_that_is_not_an_image_is_served_as_a_download(dispatcher, app) -> None:
    state = app.state.fieldsync
    sha = state.db.read(
        lambda c: c.execute("SELECT sha256 FROM blobs WHERE media_type='application/pdf' LIMIT 1").fetchone()[0]
    )
    pdf = dispatcher.get(f"/office/blobs/{sha}")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.headers["x-content-type-options"] == "nosniff"
    assert dispatcher.get(f"/office/blobs/{'0' * 64}").status_code == 404
    assert dispatcher.get("/office/blobs/not-a-hash").status_code == 400


def _checked_in_and_signed(client, headers, li_wei) -> None:
    """Li Wei checks in on J-0001 and the customer signs the sheet as the server holds it."""
    li_wei.event("J-0001", {"kind": "checkin"})
    sheet_json = client.get("/api/v1/jobs/J-0001/sheet", headers=headers).json()
    job = msgspec.convert(sheet_json["job"], Job)
    stored = [msgspec.convert({**e, "job_id": "J-0001", "entity": "event"}, JobEvent) for e in sheet_json["events"]]
    li_wei.event(
        "J-0001",
        {
            "kind": "signature",
            "signer": "Liu Yang",
            "image_sha256": SHA,
            "sheet_hash": sheet_hash(job, stored),
            "event_ids": [e.id for e in stored],
        },
    )


def test_correcting_a_signed_jobs_fault_outdates_the_signature(client, tokens, li_wei, app) -> None:
    from .conftest import record_of, version_of

    headers = bearer(tokens["chen-jing"])
    _checked_in_and_signed(client, headers, li_wei)
    assert record_of(app, "job", "J-0001")["signature_state"] == "valid"

    answer = client.patch(
        "/api/v1/jobs/J-0001",
        headers=headers,
        json={"base_version": version_of(app, "job", "J-0001"), "fault": "corrected"},
    )

    assert answer.json()["status"] == "conflict" and answer.json()["version"] == version_of(app, "job", "J-0001")
    assert record_of(app, "job", "J-0001")["signature_state"] == "outdated"
    signature = client.get("/api/v1/jobs/J-0001/sheet", headers=headers).json()["signature"]
    assert signature["state"] == "outdated" and signature["job_changed"]
    kinds = {c["kind"] for c in client.get("/api/v1/conflicts", headers=headers).json()}
    assert "signature" in kinds


def test_a_signature_that_signs_an_older_version_is_explained_in_words_on_the_sheet_and_in_the_queue(
    client, tokens, li_wei, app
) -> None:
    from .conftest import sign_in

    headers = bearer(tokens["chen-jing"])
    _checked_in_and_signed(client, headers, li_wei)
    late = li_wei.event(
        "J-0001",
        {"kind": "note", "text": "found a second loose cable"},
        at=dt.datetime(2026, 11, 20, 9, 42, tzinfo=dt.timezone.utc),
    )
    assert late["status"] == "conflict"
    words = 'a note added by Li Wei (李伟) on 2026-11-20 09:42 UTC: "found a second loose cable"'

    assert client.get("/api/v1/jobs/J-0001/sheet", headers=headers).json()["signature"]["changes"] == [words]
    sign_in(client, tokens["chen-jing"])
    page = client.get("/office/jobs/J-0001").text
    shown = words.replace("2026-11-20 09:42 UTC", "Nov 20, 2026 09:42 UTC")  # the office's zone (UTC here)
    assert shown in page.replace("&#34;", '"').replace("&quot;", '"')
    queue = client.get("/office/conflicts").text.replace("&#34;", '"').replace("&quot;", '"')
    assert "the sheet changed after Liu Yang signed it on " in queue and shown in queue
    for text in (page, queue):
        assert late["event_id"] not in text and "added_events" not in text
