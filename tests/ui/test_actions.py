"""Each on-site step through the app's forms: one Workbench call, the CLI's rules refusing at the
moment of recording, the refusal next to its field with the way forward, nothing written."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import subprocess
import sys

from PIL import Image

from sync_protocol import Backup, Note, PartSwap, Signature, sheet_hash
from tests.client.laptop_helpers import ROOT, SIGNATURE_PNG

from .conftest import Browser, pending

JOB = "J-0001"
SHA = "ab" * 32


def refusal(page: str) -> str:
    found = re.search(r'<div class="refusal" role="alert" id="refusal-(\w+)">(.*?)</div>', page, re.S)
    assert found, "no refusal on the page"
    return re.sub(r"<[^>]+>", " ", found.group(2))


def png(draw: str = "signature", size: tuple[int, int] = (600, 200)) -> str:
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    if draw == "signature":
        for x in range(40, 520):
            y = 100 + int(40 * ((x // 30) % 2 * 2 - 1) * ((x % 30) / 30))
            for dy in range(3):
                image.putpixel((x, y + dy), (11, 31, 102, 255))
    elif draw == "dot":
        for x in range(3):
            for y in range(3):
                image.putpixel((300 + x, 100 + y), (11, 31, 102, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def test_each_step_is_recorded_and_leads_to_the_next(browser: Browser, laptop) -> None:
    steps = [
        ("checkin", {"note": "met 刘洋"}),
        (
            "backup",
            {
                "scope": "system",
                "method": "OS image",
                "stored_at": "USB-07",
                "sha256": SHA.upper(),
                "size": "1024",
                "verified": "1",
            },
        ),
        ("diagnosis", {"cause": "hardware", "findings": "PSU 1 dead", "severity": "1"}),
        ("swap", {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "PSU-A", "serial_in": "PSU-B"}),
        ("loaner", {"device": "spare R740"}),
        ("test", {"result": "pass", "notes": "both PSUs green"}),
        ("note", {"text": "customer asked for a call tomorrow"}),
    ]
    for n, (step, form) in enumerate(steps, start=1):
        answer = browser.post(f"/jobs/{JOB}/{step}", form)
        assert answer.status_code == 303, (step, answer.text[:500])
        assert answer.headers["location"] == f"/jobs/{JOB}#next"
        assert pending(laptop) == n
    events = [v.event.payload for v in laptop.events(JOB)]
    backup = next(p for p in events if isinstance(p, Backup))
    assert backup.sha256 == SHA and backup.size == 1024 and backup.verified
    assert any(isinstance(p, PartSwap) and p.serial_in == "PSU-B" for p in events)
    page = browser.get(f"/jobs/{JOB}").text
    assert "Recorded: note. It will sync." in page
    assert page.count("not synced yet") == len(steps)
    assert re.search(r'<details class="[^"]*\bnext\b[^"]*" id="step-(\w+)"', page).group(1) == "sign"


def test_a_swap_before_the_backup_is_refused_with_the_way_forward(browser: Browser, laptop) -> None:
    form = {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "PSU-A", "serial_in": "PSU-B"}
    answer = browser.post(f"/jobs/{JOB}/swap", form)
    assert answer.status_code == 422
    said = refusal(answer.text)
    assert "no verified backup" in said
    assert f'href="/jobs/{JOB}#step-backup"' in answer.text and f'href="/jobs/{JOB}#waive"' in answer.text
    assert 'value="PSU-B"' in answer.text  # what was typed comes back
    assert pending(laptop) == 0
    # The way forward: acknowledge working without one (an audit finding), then it is recorded.
    assert browser.post(f"/jobs/{JOB}/swap", {**form, "no_backup_ack": "1"}).status_code == 303
    assert pending(laptop) == 1
    # Or waive it with a reason; a waiver without one is refused next to the reason field.
    empty = browser.post("/jobs/J-0002/backup/waive", {"waive_reason": " "})
    assert empty.status_code == 422 and 'aria-invalid="true" autofocus' in empty.text
    assert browser.post("/jobs/J-0002/backup/waive", {"waive_reason": "appliance is read-only"}).status_code == 303


def test_paid_work_needs_the_customers_approval_first(browser: Browser, laptop) -> None:
    laptop.today = lambda: dt.date(2031, 1, 1)  # every demo warranty has ended
    browser.post(f"/jobs/{JOB}/backup/waive", {"waive_reason": "no backup target on site"})
    form = {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "PSU-A", "serial_in": "PSU-B"}
    answer = browser.post(f"/jobs/{JOB}/swap", form)
    assert answer.status_code == 422 and "must approve a quote" in refusal(answer.text)
    assert f'href="/jobs/{JOB}#step-quote"' in answer.text
    assert browser.post(f"/jobs/{JOB}/approval", {"by": "王建国", "decision": "approve"}).status_code == 422
    assert browser.post(f"/jobs/{JOB}/quote", {"part_1": "PSU-750W", "qty_1": "1", "labour": "300"}).status_code == 303
    page = browser.get(f"/jobs/{JOB}").text
    assert "CN¥1,190.00" in page and "waiting for the customer" in page
    assert browser.post(f"/jobs/{JOB}/approval", {"by": "王建国", "decision": "approve"}).status_code == 303
    assert browser.post(f"/jobs/{JOB}/swap", form).status_code == 303
    bad = browser.post(f"/jobs/{JOB}/quote", {"part_1": "PSU-750W", "labour": "12.345"})
    assert bad.status_code == 422 and "300.50" in refusal(bad.text)


def test_a_serial_installed_elsewhere_is_refused(browser: Browser, laptop) -> None:
    browser.post(f"/jobs/{JOB}/backup/waive", {"waive_reason": "read-only"})
    other = laptop.record("equipment", "EQ-002").serial  # type: ignore[attr-defined]
    answer = browser.post(
        f"/jobs/{JOB}/swap", {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "PSU-A", "serial_in": other}
    )
    assert answer.status_code == 422
    assert f"Serial {other} is already installed in EQ-002" in refusal(answer.text)
    assert pending(laptop) == 1


def test_the_customer_signs_bound_to_the_sheet_they_saw(browser: Browser, laptop) -> None:
    browser.post(f"/jobs/{JOB}/checkin", {"note": "on site"})
    page = browser.get(f"/jobs/{JOB}/sign").text
    shown = re.search(r'name="sheet_hash" value="([0-9a-f]{64})"', page).group(1)
    for image, said in (("", "could not be read"), (png("empty"), "empty"), (png("dot"), "only a dot")):
        answer = browser.post(
            f"/jobs/{JOB}/sign", {"signer": "王建国", "role": "site manager", "image": image, "sheet_hash": shown}
        )
        assert answer.status_code == 422 and said in refusal(answer.text), said
    nameless = browser.post(f"/jobs/{JOB}/sign", {"signer": " ", "image": png(), "sheet_hash": shown})
    assert nameless.status_code == 422 and "required" in refusal(nameless.text)
    assert pending(laptop) == 1
    # Something is recorded while the customer reads: the sheet they saw is not the sheet now.
    laptop.record_event(JOB, Note(text="recorded meanwhile by the CLI"))
    stale = browser.post(f"/jobs/{JOB}/sign", {"signer": "王建国", "image": png(), "sheet_hash": shown})
    assert stale.status_code == 422 and "changed while it was shown" in refusal(stale.text)
    fresh = re.search(r'name="sheet_hash" value="([0-9a-f]{64})"', browser.get(f"/jobs/{JOB}/sign").text).group(1)
    signed = browser.post(
        f"/jobs/{JOB}/sign", {"signer": "王建国", "role": "site manager", "image": png(), "sheet_hash": fresh}
    )
    assert signed.status_code == 303
    events = [v.event for v in laptop.events(JOB)]
    signature = next(e.payload for e in events if isinstance(e.payload, Signature))
    assert signature.sheet_hash == fresh == sheet_hash(laptop.job(JOB), events)
    assert laptop.blob_path(signature.image_sha256).read_bytes() == base64.b64decode(png().split(",", 1)[1])
    assert "signed by 王建国" in browser.get(f"/jobs/{JOB}").text
    browser.post(f"/jobs/{JOB}/note", {"text": "one more thing"})
    job_page = browser.get(f"/jobs/{JOB}").text
    assert 'data-state="outdated"' in job_page and "signature signs an older version" in job_page
    report = browser.get(f"/jobs/{JOB}/report").text
    assert f"/files/blobs/{signature.image_sha256}" in report and "older version" in report


def test_a_photo_from_a_file_is_kept_as_a_blob(browser: Browser, laptop) -> None:
    image = SIGNATURE_PNG.read_bytes()
    answer = browser.http.post(
        f"/jobs/{JOB}/photo",
        data={"csrf": browser.csrf(), "caption": "PSU bay"},
        files={"photo": ("bay.png", image, "image/png")},
        headers={"origin": browser.app.origin},
    )
    assert answer.status_code == 303, answer.text[:300]
    assert 'src="/files/blobs/' in browser.get(f"/jobs/{JOB}").text
    fake = browser.http.post(
        f"/jobs/{JOB}/photo",
        data={"csrf": browser.csrf()},
        files={"photo": ("x.png", b"<svg onload=alert(1)>", "image/png")},
        headers={"origin": browser.app.origin},
    )
    assert fake.status_code == 422 and "PNG, JPEG or WebP" in refusal(fake.text)
    assert pending(laptop) == 1


def test_site_facts_send_only_what_changed(browser: Browser, laptop) -> None:
    site = laptop.record("site", "S-01")
    form = {
        name: getattr(site, name)
        for name in ("contact_name", "contact_phone", "contact_email", "installer_contact", "access_notes")
    }
    assert browser.post(f"/jobs/{JOB}/facts/site/S-01", form).status_code == 422  # nothing changed
    assert (
        browser.post(f"/jobs/{JOB}/facts/site/S-01", {**form, "contact_phone": "+86 138 0000 7781"}).status_code == 303
    )
    [patch] = laptop.pending()
    assert patch.fields == {"contact_phone": "+86 138 0000 7781"}
    answer = browser.post(f"/jobs/{JOB}/facts/equipment/EQ-001", {"parameter": "ip", "parameter_value": "10.0.0.9"})
    assert answer.status_code == 303
    assert laptop.record("equipment", "EQ-001").parameters["ip"] == "10.0.0.9"


def test_drawings_show_inline_from_the_cache(browser: Browser, laptop) -> None:
    blob = laptop.blobs.add_file(ROOT / "fixtures" / "demo" / "drawings" / "D-02-s-01-network.pdf")
    assert laptop.record("drawing", "D-02").sha256 == blob  # type: ignore[attr-defined]
    page = browser.get("/drawings/D-02?job=J-0001").text
    assert '<iframe class="drawing-view" id="drawing-view" src="/files/drawings/D-02"' in page
    pdf = browser.get("/files/drawings/D-02")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.headers["content-disposition"].startswith("inline")
    assert browser.get("/files/drawings/D-01").status_code == 404  # not downloaded: says so
    assert "not on this laptop yet" in browser.get("/drawings/D-01").text


def test_unknown_things_are_a_page_in_words_not_a_crash(browser: Browser, laptop) -> None:
    assert browser.get("/jobs/J-9999").status_code == 404
    assert browser.post("/jobs/J-9999/checkin", {}).status_code == 404
    assert browser.get("/drawings/D-99").status_code == 404
    assert browser.post(f"/jobs/{JOB}/diagnosis", {"cause": "aliens", "findings": "x"}).status_code == 422
    assert browser.post(f"/jobs/{JOB}/diagnosis", {"cause": "hardware", "findings": "x" * 5000}).status_code == 422
    assert pending(laptop) == 0


def test_the_cli_and_the_app_share_the_store_at_once(browser: Browser, laptop) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "field_client.cli",
            "--home",
            str(laptop.home),
            "note",
            JOB,
            "written by the CLI while the app runs",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert browser.post(f"/jobs/{JOB}/note", {"text": "written in the app"}).status_code == 303
    page = browser.get(f"/jobs/{JOB}").text
    assert "written by the CLI while the app runs" in page and "written in the app" in page
    assert [m.seq for m in laptop.pending()] == [1, 2]


def test_the_page_speaks_the_browsers_language_or_the_one_chosen(browser: Browser) -> None:
    assert "今日" in browser.get("/", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert "Today" in browser.get("/", headers={"accept-language": "en-GB"}).text
    assert browser.post("/lang", {"lang": "zh_Hans", "next": "/jobs/J-0001"}).headers["location"] == "/jobs/J-0001"
    page = browser.get("/jobs/J-0001", headers={"accept-language": "en-GB"}).text
    assert '<html lang="zh-Hans">' in page and "到场签到" in page
    assert browser.post("/lang", {"lang": "en", "next": "//evil.example"}).headers["location"] == "/"
