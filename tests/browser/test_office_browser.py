"""The office acceptance flow in a real browser against a real server and a real field client.

A dispatcher signs in, takes in a severity-1 fault, assigns it, and watches it on the board; the
engineer's laptop syncs the work (check-in, verified backup, part swap, signature); the
dispatcher reviews the sheet, edits a site's phone that the laptop also changed offline and
settles the conflict by clicking; a supervisor finds the repair done without a backup and
downloads the audit as CSV. Every page is saved under ``var/screenshots/``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import httpx

from sync_protocol import Backup, Checkin, CustomerApproval, PartSwap, Quote, QuoteLine
from tests.support.live import ROOT

SIGNATURE_PNG = ROOT / "fixtures" / "demo" / "signature.png"
FIELD_PHONE, OFFICE_PHONE = "+86 139 0000 0001", "+86 21 6666 0000"


def sign_in(page, server, name: str, role: str) -> str:
    """Sign in with a fresh enrollment token; returns the device token the page shows once."""
    page.goto(f"{server.url}/office/login")
    page.fill("input[name=token]", server.enrollment(name, role))
    page.click("button[type=submit]")
    token = page.inner_text("#device-token").strip()
    page.click("text=Continue")
    return token


def approve(li, job_id: str, sku: str, price_cents: int) -> None:
    quote = li.record_event(
        job_id, Quote(lines=[QuoteLine(sku=sku, unit_price_cents=price_cents)], labour_cents=30_000)
    )
    li.record_event(job_id, CustomerApproval(quote_event_id=quote.id, approved_by="刘洋 Liu Yang"))


def test_dispatcher_and_supervisor_in_the_browser(live_server, laptop, new_page, shoot) -> None:
    server = live_server
    page = new_page()

    # --- sign in ---------------------------------------------------------------------------
    page.goto(f"{server.url}/office/board")
    assert "/office/login" in page.url
    shoot(page, "01-sign-in")
    page.fill("input[name=token]", server.enrollment("chen-jing", "dispatcher"))
    page.click("button[type=submit]")
    token = page.inner_text("#device-token").strip()
    assert token.startswith("fs_d_")
    shoot(page, "02-enrolled")
    page.click("text=Continue")
    assert page.url.endswith("/office/board")
    cookie = next(c for c in page.context.cookies() if c["name"] == "fieldsync_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # --- take in a severity-1 fault and assign it -------------------------------------------
    page.click("text=New job")
    page.select_option("#customer", "C-01")
    page.select_option("#site", "S-01")
    at_site = sorted(i for i, e in server.records("equipment").items() if e["site_id"] == "S-01")
    shown = page.locator("#equipment label:visible input").evaluate_all("els => els.map(e => e.value)")
    assert sorted(shown) == at_site  # only the chosen site's equipment is offered
    page.check("input[name=equipment_ids][value=EQ-001]")
    page.fill("textarea[name=fault]", "服务器宕机 PowerEdge down again, business offline")
    page.check("input[name=severity][value='1']")
    page.fill("input[name=reported_by]", "刘洋 Liu Yang")
    shoot(page, "03-intake")
    page.click("text=Create job")
    page.wait_for_url(re.compile(r"/office/jobs/J-\d+$"))
    job_id = page.url.rsplit("/", 1)[1]
    assert "created: respond by" in page.inner_text(".flash")
    page.select_option("#assignee", "li-wei")
    page.click("button:has-text('Assign')")
    assert "assigned to Li Wei" in page.inner_text(".flash")

    page.click("text=Board")
    row = page.locator(f"tr[data-job='{job_id}']")
    assert "Li Wei" in row.inner_text() and "S1" in row.inner_text() and "to be on site" in row.inner_text()

    # The board refreshes itself: a job taken in elsewhere appears without a reload.
    page.evaluate("window.__same_page = true")
    made = httpx.post(
        f"{server.url}/api/v1/jobs",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        json={"customer_id": "C-02", "site_id": "S-03", "fault": "Camera offline", "severity": 2},
    )
    assert made.status_code == 201, made.text
    page.wait_for_selector(f"tr[data-job='{made.json()['id']}']", timeout=12_000)
    assert page.evaluate("window.__same_page") is True
    shoot(page, "04-board")

    # --- the engineer's laptop syncs work on it ---------------------------------------------
    li = laptop("li-wei")
    li.sync()
    job = li.job(job_id)
    li.record_event(job_id, Checkin(note="owner 刘洋 on site"))
    li.record_event(
        job_id,
        Backup(
            scope="system",
            method="iDRAC image",
            stored_at="USB SSD",
            size=52_428_800,
            sha256="c0ffee" + "0" * 58,
            verified=True,
        ),
    )
    approve(li, job_id, "PSU-750W", 89_000)  # out of warranty: paid work, approved first
    li.record_event(
        job_id,
        PartSwap(
            equipment_id=job.equipment_ids[0], sku="PSU-750W", serial_out="PSU-OLD-4711", serial_in="PSU-NEW-0815"
        ),
    )
    li.sign(job_id, "刘洋 Liu Yang", SIGNATURE_PNG, role="system owner")
    # And on another job, a swap without any backup, acknowledged on the laptop.
    approve(li, "J-0002", "FAN-80MM", 12_000)
    li.record_event(
        "J-0002",
        PartSwap(equipment_id="EQ-002", sku="FAN-80MM", serial_out="FAN-A1", serial_in="FAN-B2", no_backup_ack=True),
    )
    report = li.sync()
    assert report.rejected == 0, li.answers("rejected")

    # --- the sheet: backup, swap and the signature image ------------------------------------
    page.goto(f"{server.url}/office/jobs/{job_id}")
    timeline = page.inner_text("#timeline")
    assert "c0ffee" in timeline and "verified" in timeline
    assert "PSU-OLD-4711" in timeline and "PSU-NEW-0815" in timeline
    image = page.locator("#signature-image")
    image.wait_for()
    page.wait_for_function("document.getElementById('signature-image').naturalWidth > 0")
    assert page.inner_text("#signature-state") == "valid"
    shoot(page, "05-job-sheet")
    page.emulate_media(media="print")
    assert not page.locator(".actions").is_visible()
    shoot(page, "06-job-sheet-print")
    page.emulate_media(media="screen")

    # --- a site's phone changed in the office and, offline, on the laptop --------------------
    li.edit("site", "S-01", contact_phone=FIELD_PHONE)  # offline on the laptop
    page.goto(f"{server.url}/office/data/sites/S-01")  # the form is rendered now...
    li.sync()  # ...and the laptop's edit lands
    page.fill("input[name=contact_phone]", OFFICE_PHONE)
    shoot(page, "07-site-edit")
    page.click("button:has-text('Save')")
    assert "conflict queue" in page.inner_text(".flash")

    page.click("nav >> text=Conflicts")
    card = page.locator("section.conflict[data-kind='field']", has_text="contact_phone").first
    assert FIELD_PHONE in card.inner_text() and OFFICE_PHONE in card.inner_text()
    shoot(page, "08-conflicts")
    card.locator("button.override").click()
    assert "Conflict resolved" in page.inner_text(".flash")
    assert server.records("site")["S-01"]["contact_phone"] == OFFICE_PHONE
    li.sync()
    assert li.record("site", "S-01").contact_phone == OFFICE_PHONE
    [conflict_id] = [
        i
        for i, c in server.records("conflict").items()
        if c["record_id"] == "S-01" and c.get("field") == "contact_phone"
    ]
    settled = li.record("conflict", conflict_id)
    assert (settled.status, settled.resolution) == ("resolved", "overridden")
    assert conflict_id not in {c.id for c in li.conflicts()}  # no longer open on the laptop

    page.goto(f"{server.url}/office/data/sites")
    shoot(page, "09-reference-data")

    # --- the supervisor's backup audit ------------------------------------------------------
    supervisor = new_page()
    sign_in(supervisor, server, "zhao-lei", "supervisor")
    assert supervisor.url.endswith("/office/audit")
    missing = supervisor.locator("tr.finding.outcome-missing[data-job='J-0002']")
    assert "acknowledged" in missing.inner_text()
    verified = supervisor.locator(f"tr.finding.outcome-verified[data-job='{job_id}']")
    assert "Li Wei" in verified.inner_text()
    shoot(supervisor, "10-backup-audit")
    with supervisor.expect_download() as download:
        supervisor.click("#csv-link")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert {(r["job_id"], r["outcome"]) for r in rows} >= {("J-0002", "missing"), (job_id, "verified")}
    missing.locator("a").click()
    assert supervisor.url.endswith("/office/jobs/J-0002")
    assert "worked without a backup" in supervisor.inner_text("#timeline")
    assert dt.datetime.now(dt.timezone.utc)  # the run ends with every page screenshotted
