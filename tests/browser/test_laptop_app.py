"""The engineer's day in the laptop app (``field ui``), in headless Chromium, against a real server.

``field ui --no-browser`` runs as its own process over the laptop store; the page opens its
one-time link. The laptop syncs from the app, the server stops (the plant room), every step of
J-0001 is done through the pages (the customer signs with mouse moves on the pad), the server
comes back, the app syncs, and the office's sheet shows the same events, the signature image
and ``valid``. Screenshots of Today, Job, Sign and the service report at 1366 and 800 px wide
are saved under ``var/screenshots/`` on every run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import msgspec
import pytest
from PIL import Image, ImageChops

from tests.support.live import ROOT

from .conftest import SCREENSHOTS

JOB = "J-0001"


class FieldUi:
    """``field ui --no-browser --json`` in a subprocess; stopped (SIGTERM) by the fixture."""

    def __init__(self, home: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "field_client.cli", "--home", str(home), "--json", "ui", "--no-browser"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise AssertionError(f"field ui did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        opened = json.loads(line)
        self.url, self.origin = opened["url"], f"http://127.0.0.1:{opened['port']}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def field_ui(laptop: Any) -> Iterator[tuple[FieldUi, Any]]:
    """An enrolled laptop (li-wei, nothing synced yet) and its app, running."""
    client = laptop("li-wei")
    app = FieldUi(client.home)
    try:
        yield app, client
    finally:
        app.stop()


def app_page(chromium: Any, app: FieldUi, width: int, height: int, locale: str, cookies: list | None = None) -> Any:
    context = chromium.new_context(viewport={"width": width, "height": height}, locale=locale)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.csp_problems = []  # type: ignore[attr-defined]
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_problems.append(m.text))
    page.elsewhere = []  # type: ignore[attr-defined]  (nothing may be loaded from anywhere else)
    page.on("request", lambda r: r.url.startswith((app.origin, "data:", "blob:")) or page.elsewhere.append(r.url))
    if cookies is None:
        page.goto(app.url)
    else:
        context.add_cookies(cookies)
        page.goto(app.origin + "/")
    return page


def snap(page: Any, name: str, full: bool = True) -> None:
    """``var/screenshots/NAME.png``: the whole page, or what the window shows (a page whose
    header and sheet stay in place as it scrolls is shown as the engineer sees it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if full:
        page.evaluate("() => window.scrollTo(0, 0)")  # a sticky header is drawn once, at the top
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full)


def submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def open_step(page: Any, key: str) -> None:
    if page.get_attribute(f"#step-{key}", "open") is None:
        page.click(f"#step-{key} > summary")


def sync_from_the_app(page: Any, app: FieldUi) -> str:
    page.goto(app.origin + "/sync")
    submit(page, "#sync-button")
    page.wait_for_selector("#sync-result:not(.muted)", timeout=60_000)
    return page.inner_text("#sync-result")


def draw_signature(page: Any) -> None:
    page.locator("#signature-pad").scroll_into_view_if_needed()
    box = page.locator("#signature-pad").bounding_box()
    x0, y0 = box["x"] + 40, box["y"] + box["height"] * 0.6
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 40):  # a wavy name, then a flourish
        page.mouse.move(x0 + i * 9, y0 - 30 * ((i % 6) / 6) + (10 if i % 12 > 6 else 0), steps=2)
    page.mouse.up()
    page.mouse.move(x0 + 60, y0 + 25)
    page.mouse.down()
    page.mouse.move(x0 + 300, y0 + 15, steps=12)
    page.mouse.up()


def office_sheet(chromium: Any, server: Any) -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/office/login")
    page.fill("input[name=token]", server.enrollment("chen-jing", "dispatcher"))
    page.click("button[type=submit]")
    page.click("text=Continue")
    page.goto(f"{server.url}/office/jobs/{JOB}")
    return page


def ink(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGBA")


def test_the_whole_engineers_day_in_the_app_offline_then_one_sync(
    chromium: Any, field_ui: tuple[FieldUi, Any], live_server: Any, tmp_path: Path
) -> None:
    app, client = field_ui
    page = app_page(chromium, app, 1366, 768, "en-US")
    assert "Not ready to go offline" in page.inner_text("#ready") and "never synced" in page.inner_text("#ready")

    # --- morning, in coverage: sync from the app ---------------------------------------------
    assert "Synced" in sync_from_the_app(page, app)
    page.click("nav >> text=Today")
    assert "Ready to go offline" in page.inner_text("#ready")
    jobs = page.locator("ol.jobs li").evaluate_all("els => els.map(e => e.dataset.job)")
    assert JOB in jobs
    snap(page, "laptop-today-1366")

    live_server.stop()  # the plant room: no network from here
    page.click(f"li[data-job='{JOB}'] a")
    assert page.inner_text(".nextstep a") == "Check in"
    # A drawing from the local cache, inline.
    page.click("a.drawing >> nth=0")
    page.wait_for_selector("#drawing-view")
    page.go_back()

    # --- check in; a swap before the backup is refused, with the way forward ---------------------
    page.fill("#step-checkin input[name=note]", "met 刘洋 at reception")
    submit(page, "#step-checkin button[type=submit]")
    assert "Recorded: check-in" in page.inner_text(".flash")
    open_step(page, "swap")
    page.fill("#swap-form input[name=serial_out]", "PSU-DEAD-1")
    page.fill("#swap-form input[name=serial_in]", "PSU-NEW-1")
    submit(page, "#swap-form button[type=submit]")
    refusal = page.inner_text("#refusal-swap")
    assert "no verified backup" in refusal and "Waive the backup" in refusal
    page.locator("#step-swap").scroll_into_view_if_needed()
    snap(page, "laptop-job-refused-1366", full=False)
    assert page.input_value("#swap-form input[name=serial_in]") == "PSU-NEW-1"

    # --- the backup: the laptop hashes the chosen file itself ----------------------------------
    backup = tmp_path / "system-image.bin"
    backup.write_bytes(os.urandom(3 * 1024 * 1024))
    page.goto(f"{app.origin}/jobs/{JOB}")
    page.set_input_files("#backup-file", str(backup))
    page.click("#hash-button")
    page.wait_for_function("() => document.getElementById('backup-sha256').value.length === 64")
    assert page.input_value("#backup-sha256") == hashlib.sha256(backup.read_bytes()).hexdigest()
    assert page.input_value("#backup-size") == str(3 * 1024 * 1024)
    page.fill("#backup-form input[name=method]", "OS image")
    page.fill("#backup-form input[name=stored_at]", "USB-07")
    page.check("#backup-form input[name=verified]")
    submit(page, "#backup-form button[type=submit]")

    page.check("#step-diagnosis input[value=hardware]")
    page.fill("#step-diagnosis textarea[name=findings]", "PSU 1 dead, no standby LED")
    page.select_option("#step-diagnosis select[name=severity]", "1")
    submit(page, "#step-diagnosis button[type=submit]")
    assert page.get_attribute("#step-warranty .verdicts li", "data-covered") == "no"  # out of warranty: paid
    assert page.inner_text(".nextstep a") == "Quote and approval"
    snap(page, "laptop-job-1366", full=False)  # scrolled to the next step, as the redirect leaves it

    # --- paid work: refused until the customer approves a quote ------------------------------------
    open_step(page, "swap")
    page.fill("#swap-form input[name=serial_out]", "PSU-DEAD-1")
    page.fill("#swap-form input[name=serial_in]", "PSU-NEW-1")
    submit(page, "#swap-form button[type=submit]")
    assert "must approve a quote" in page.inner_text("#refusal-swap")
    page.goto(f"{app.origin}/jobs/{JOB}")
    page.select_option("#quote-form select[name=part_1]", "PSU-750W")
    page.fill("#quote-form input[name=labour]", "300")
    submit(page, "#quote-form button[type=submit]")
    assert "1,190.00" in page.inner_text("#latest-quote")
    page.fill("#approval-form input[name=by]", "王建国")
    submit(page, "#approval-form button[value=approve]")
    open_step(page, "swap")
    assert page.input_value("#swap-form select[name=part]") == "PSU-750W"  # the part just quoted
    page.fill("#swap-form input[name=serial_out]", "PSU-DEAD-1")
    page.fill("#swap-form input[name=serial_in]", "PSU-NEW-1")
    page.fill("#swap-form input[name=notes]", "hot-swapped")
    submit(page, "#swap-form button[type=submit]")
    assert "Recorded: part swap" in page.inner_text(".flash")

    # --- loaner, test, a photo from the laptop camera, a note, a site fact ------------------------
    open_step(page, "loaner")
    page.fill("#step-loaner input[name=device]", "spare R740 (2 h)")
    submit(page, "#step-loaner button[type=submit]")
    open_step(page, "loaner")
    page.fill("#step-loaner input[name=device]", "spare R740 (2 h)")
    page.check("#step-loaner input[name=returned]")
    submit(page, "#step-loaner button[type=submit]")
    page.check("#step-test input[value=pass]")
    page.fill("#step-test input[name=notes]", "both PSUs green")
    submit(page, "#step-test button[type=submit]")
    open_step(page, "photo")
    page.click("#camera-start")
    page.wait_for_function("() => document.getElementById('camera-view').videoWidth > 0")
    page.click("#camera-shoot")
    page.wait_for_selector("#camera-state:not([hidden])")
    page.fill("#photo-form input[name=caption]", "PSU bay after the swap")
    submit(page, "#photo-form button[type=submit]")
    assert page.locator(".photos img").count() == 1
    open_step(page, "note")
    page.fill("#note-form textarea[name=text]", "customer asks for a call tomorrow")
    submit(page, "#note-form button[type=submit]")
    open_step(page, "facts")
    page.fill("#site-facts input[name=access_notes]", "badge from 物业, gate 2")
    submit(page, "#site-facts button[type=submit]")
    assert page.inner_text("#access-notes") == "badge from 物业, gate 2"
    assert page.inner_text(".nextstep a") == "Customer signature"

    # --- the customer signs: an empty pad is refused, a drawn signature is kept -------------------------
    # The pad's scripts are deferred: until the page has loaded, a click on "Sign" posts the form
    # and the laptop refuses it instead. The customer's pad refuses first once the page is ready.
    submit(page, "text=Customer signs >> nth=0")
    page.fill("#signer", "王建国")
    page.fill("#role", "site manager")
    page.click("#submit-signature")
    page.wait_for_selector("#pad-problem:not([hidden])", timeout=5_000)
    assert "empty" in page.inner_text("#pad-problem")
    page.locator("#signature-pad").scroll_into_view_if_needed()
    box = page.locator("#signature-pad").bounding_box()
    page.mouse.click(box["x"] + 100, box["y"] + 100)  # a dot is not a signature
    page.click("#submit-signature")
    assert "only a dot" in page.inner_text("#pad-problem")
    page.click("#clear-pad")
    draw_signature(page)
    snap(page, "laptop-sign-1366")
    submit(page, "#submit-signature")
    assert "Signed" in page.inner_text(".flash")
    assert page.get_attribute("#signature-state", "data-state") == "valid"
    submit(page, "#resolve")
    page.goto(f"{app.origin}/jobs/{JOB}/report")
    page.wait_for_function("() => document.getElementById('report-signature').naturalWidth > 0")
    snap(page, "laptop-report-1366")
    page.pdf(path=str(ROOT / "var" / "screenshots" / "laptop-report.pdf"), format="A4")  # what Save as PDF gives

    # --- the same pages at a 10-inch tablet's width, in Chinese ---------------------------------------
    tablet = app_page(chromium, app, 800, 1280, "zh-CN", page.context.cookies())
    assert "今日" in tablet.inner_text("h1")
    snap(tablet, "laptop-today-800")
    tablet.goto(f"{app.origin}/jobs/{JOB}")
    snap(tablet, "laptop-job-800", full=False)
    tablet.goto(f"{app.origin}/jobs/{JOB}/sign")
    tablet.fill("#signer", "王建国")
    tablet.fill("#role", "现场经理")
    draw_signature(tablet)
    snap(tablet, "laptop-sign-800")
    tablet.goto(f"{app.origin}/jobs/{JOB}/report")
    tablet.wait_for_function("() => document.getElementById('report-signature').naturalWidth > 0")
    snap(tablet, "laptop-report-800")

    # --- back in coverage: one sync from the app -------------------------------------------------------
    live_server.start()
    result = sync_from_the_app(page, app)
    assert "Synced" in result and "refused 0" in result, result
    assert page.get_attribute("#pending-count", "data-pending") == "0"
    assert page.csp_problems == [] and tablet.csp_problems == []  # type: ignore[attr-defined]
    assert page.elsewhere == [] and tablet.elsewhere == []  # type: ignore[attr-defined]

    # --- the office sees the same sheet, the signature image and `valid` -----------------------------
    server_events = {i: e for i, e in live_server.records("event").items() if e["job_id"] == JOB}
    laptop_events = {v.event.id: msgspec.to_builtins(v.event) for v in client.events(JOB)}
    assert server_events == laptop_events and not any(v.pending for v in client.events(JOB))
    kinds = sorted(e["payload"]["kind"] for e in server_events.values())
    assert kinds == sorted(
        [
            "checkin",
            "backup",
            "diagnosis",
            "quote",
            "customer_approval",
            "part_swap",
            "loaner",
            "loaner",
            "test",
            "photo",
            "note",
            "signature",
            "resolution",
        ]
    )
    office = office_sheet(chromium, live_server)
    timeline = office.inner_text("#timeline")
    assert "PSU-DEAD-1" in timeline and "PSU-NEW-1" in timeline and "verified" in timeline
    assert (
        next(e for e in server_events.values() if e["payload"]["kind"] == "part_swap")["payload"]["sku"] == "PSU-750W"
    )
    assert office.inner_text("#signature-state") == "valid"
    office.wait_for_function("() => document.getElementById('signature-image').naturalWidth > 0")
    signed = office.request.get(live_server.url + office.get_attribute("#signature-image", "src"))
    image = ink(signed.body())
    empty = Image.new("RGBA", image.size, (0, 0, 0, 0))
    assert ImageChops.difference(image, empty).getbbox() is not None  # not blank: it differs from an empty pad
    assert image.getchannel("A").getbbox()[2] - image.getchannel("A").getbbox()[0] > image.width * 0.3
    assert live_server.records("job")[JOB]["signature_state"] == "valid"
    assert live_server.records("site")["S-01"]["access_notes"] == "badge from 物业, gate 2"


def test_a_note_after_signing_shows_the_signature_signs_an_older_version(
    chromium: Any, field_ui: tuple[FieldUi, Any], live_server: Any
) -> None:
    app, client = field_ui
    page = app_page(chromium, app, 1366, 768, "en-US")
    assert "Synced" in sync_from_the_app(page, app)
    page.goto(f"{app.origin}/jobs/{JOB}")
    page.focus("#step-checkin input[name=note]")  # the keyboard alone: type, Enter
    page.keyboard.type("arrived, badge collected")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Recorded: check-in" in page.inner_text(".flash")
    page.goto(f"{app.origin}/jobs/{JOB}/sign")
    page.fill("#signer", "王建国")
    draw_signature(page)
    submit(page, "#submit-signature")
    assert page.get_attribute("#signature-state", "data-state") == "valid"
    open_step(page, "note")
    page.fill("#note-form textarea[name=text]", "one more thing, after the customer signed")
    submit(page, "#note-form button[type=submit]")
    assert page.get_attribute("#signature-state", "data-state") == "outdated"
    assert "signature signs an older version" in page.inner_text("#signature-state")
    assert "Synced" in sync_from_the_app(page, app)
    page.goto(f"{app.origin}/jobs/{JOB}")
    assert "signature signs an older version" in page.inner_text("#signature-state")
    office = office_sheet(chromium, live_server)
    assert office.inner_text("#signature-state") == "outdated"
    assert "signature signs an older version" in office.inner_text(".signature-state")
    assert "added after signing" in office.inner_text("#timeline")
