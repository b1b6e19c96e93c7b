"""The supervisor's audit page in headless Chromium: the weekly trend charts and marking a
finding reviewed through the page's own form (CSRF token and all), at a desk's 1366 px.

Three engineers' repair work of the last weeks is pushed the way a laptop pushes it (each event
dated on its day), so the trend has weeks to show. ``test_screenshots`` refreshes the README's
audit screenshots, in English and in Chinese, when ``FIELDSYNC_DOCS_SCREENSHOTS=1`` (else under
``var/screenshots/``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.office.conftest import Laptop
from tests.support.live import ROOT, LiveServer

from .conftest import SCREENSHOTS

DOCS = ROOT / "docs" / "screenshots"
DESK = {"width": 1366, "height": 900}
COMMENT = "Phoned the engineer: the customer's NAS was down; image taken to USB right after. 已电话核实。"


def _backup(verified: bool = True, waive: str = "") -> dict[str, Any]:
    if waive:
        return {"kind": "backup", "scope": "system", "method": "", "waived": True, "waive_reason": waive}
    return {
        "kind": "backup",
        "scope": "system",
        "method": "iDRAC image",
        "stored_at": "USB SSD 07",
        "sha256": "c0ffee" + "0" * 58,
        "size": 52_428_800,
        "verified": verified,
    }


def _swap(equipment: str, ack: bool = False) -> dict[str, Any]:
    return {
        "kind": "part_swap",
        "equipment_id": equipment,
        "sku": "PSU-750W",
        "serial_out": f"OLD-{equipment}",
        "serial_in": f"NEW-{equipment}",
        "no_backup_ack": ack,
    }


# (engineer, job, equipment, weeks ago, backup first: "verified" / "waived" / None)
WORK = [
    ("li-wei", "J-0001", "EQ-001", 5, "verified"),
    ("li-wei", "J-0002", "EQ-002", 1, None),
    ("li-wei", "J-0003", "EQ-009", 0, "waived"),
    ("zhang-min", "J-0004", "EQ-019", 6, "verified"),
    ("zhang-min", "J-0005", "EQ-018", 3, None),
    ("zhang-min", "J-0006", "EQ-028", 0, "verified"),
    ("wang-fang", "J-0008", "EQ-033", 4, "verified"),
    ("wang-fang", "J-0009", "EQ-032", 2, "verified"),
]


def _device_token(http: httpx.Client, enrollment: str, name: str) -> str:
    answer = http.post(
        "/sync/v1/enroll", json={"enrollment_token": enrollment, "device_name": f"{name} laptop", "platform": "test"}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["device_token"])


@pytest.fixture(scope="module")
def office(
    server_template: tuple[Path, dict[str, list[str]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    import json

    template, tokens = server_template
    root = tmp_path_factory.mktemp("supervisor-pages")
    data = root / "server"
    shutil.copytree(template, data)
    (root / "tokens.json").write_text(json.dumps(tokens))
    with LiveServer(data) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        laptops = {
            name: Laptop(http, _device_token(http, server.enrollment(name, "engineer"), name))  # type: ignore[arg-type]
            for name in ("li-wei", "zhang-min", "wang-fang")
        }
        now = dt.datetime.now(dt.timezone.utc)
        for name, job, equipment, weeks, first in WORK:
            at = now - dt.timedelta(weeks=weeks)
            if first:
                laptops[name].event(
                    job,
                    _backup(waive="" if first == "verified" else "read-only appliance"),
                    at=at - dt.timedelta(minutes=20),
                )
            laptops[name].event(job, _swap(equipment, ack=first is None), at=at)
        yield server


def _signed_in(chromium: Any, office: LiveServer, role_user: tuple[str, str], locale: str = "en-US") -> Any:
    context = chromium.new_context(viewport=DESK, locale=locale, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{office.url}/office/login")
    page.fill("input[name=token]", office.enrollment(*role_user))
    page.click("button[type=submit]")
    page.click("main a.button")  # Continue, in the page's language
    return page


def test_the_trend_is_drawn_for_each_engineer_with_its_text_alternative(office: LiveServer, chromium: Any) -> None:
    page = _signed_in(chromium, office, ("zhao-lei", "supervisor"))
    try:
        assert page.url.endswith("/office/audit")
        charts = page.locator("#trends figure.trend")
        assert charts.count() == 3
        li = page.locator("#trends figure.trend[data-engineer='u-li-wei'] svg")
        assert li.get_attribute("role") == "img"
        assert "Weekly compliance of Li Wei" in li.locator("title").text_content()
        assert li.locator("circle.met").count() == 2 and li.locator("circle.missed").count() == 1
        assert li.bounding_box()["width"] > 100  # drawn, not collapsed
        page.click("#trends summary")
        row = page.locator("#trend-table tbody tr", has_text="Li Wei")
        assert row.locator("td").count() == 8 and "0.0% (1)" in row.inner_text()
    finally:
        page.context.close()


def test_a_supervisor_marks_a_finding_reviewed_on_the_page(office: LiveServer, chromium: Any) -> None:
    page = _signed_in(chromium, office, ("zhao-lei", "supervisor"))
    try:
        page.goto(f"{office.url}/office/audit?engineer=u-zhang-min")
        missing = page.locator("tr.finding.outcome-missing[data-job='J-0005']")
        form = missing.locator("form.review-form")
        assert form.is_visible()  # an unreviewed missing backup opens its form
        form.locator("textarea[name=comment]").fill(COMMENT)
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/office/audit?engineer=u-zhang-min")
        assert "marked reviewed" in page.inner_text(".flash")
        missing = page.locator("tr.finding.outcome-missing[data-job='J-0005']")
        review = missing.locator("td.review")
        assert "Zhao Lei" in review.inner_text() and COMMENT in review.locator(".review-comment").inner_text()
        assert not missing.locator("form.review-form").is_visible()  # "Review again" stays folded
        with page.expect_download() as download:
            page.click("#csv-link")
        rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
        [row] = [r for r in rows if r["job_id"] == "J-0005"]
        assert row["review_comment"] == COMMENT and row["reviewed_by"].startswith("Zhao Lei")
    finally:
        page.context.close()


def test_screenshots_of_the_audit_in_english_and_chinese(office: LiveServer, chromium: Any) -> None:
    target = DOCS if os.environ.get("FIELDSYNC_DOCS_SCREENSHOTS") else SCREENSHOTS
    target.mkdir(parents=True, exist_ok=True)
    for locale, name in (("en-US", "office-backup-audit.png"), ("zh-CN", "office-backup-audit-zh.png")):
        page = _signed_in(chromium, office, ("zhao-lei", "supervisor"), locale)
        try:
            page.goto(f"{office.url}/office/audit")
            missing = page.locator("tr.finding.outcome-missing[data-job='J-0002']")
            if not missing.locator(".reviewed").count():  # the shot shows a reviewed finding too
                missing.locator("textarea[name=comment]").fill(COMMENT)
                missing.locator("form.review-form button[type=submit]").click()
                page.wait_for_selector("tr.finding[data-job='J-0002'] .reviewed")
            page.click("#trends summary")
            assert page.locator("html").get_attribute("lang").startswith(locale[:2])
            page.screenshot(path=str(target / name), full_page=True)
        finally:
            page.context.close()
    assert (target / "office-backup-audit-zh.png").stat().st_size > 10_000


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_audit_with_its_charts_and_forms_fits_a_phone(office: LiveServer, chromium: Any, locale: str) -> None:
    page = _signed_in(chromium, office, ("zhao-lei", "supervisor"), locale)
    try:
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{office.url}/office/audit")
        page.click("#trends summary")  # the table of the trend, open
        wider = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wider <= 0, f"the audit is {wider} px wider than the phone"
        chart = page.locator("#trends figure.trend svg").first.bounding_box()
        assert chart and chart["x"] >= 0 and chart["x"] + chart["width"] <= 390
    finally:
        page.context.close()
