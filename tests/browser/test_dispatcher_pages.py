"""The dispatcher's office pages in headless Chromium, at a desk's 1366 px and a phone's 390 px.

One server (a copy of the demo store, the office in Asia/Shanghai) serves the module; each test
opens its own browser contexts, signed in from a saved session. What is checked is what a
dispatcher meets: the board in urgency order, focus and scroll kept across the board's refresh,
no page wider than a phone, badge contrast, ``lang`` on Chinese text, ``scope`` on headers and
a skip link. ``test_screenshots`` refreshes the README's office screenshots when
``FIELDSYNC_DOCS_SCREENSHOTS=1`` (else under ``var/screenshots/``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from sync_protocol import Backup, Checkin, CustomerApproval, Note, PartSwap, Quote, QuoteLine
from tests.support.live import ROOT, LiveServer

from .conftest import SCREENSHOTS
from .test_office_browser import SIGNATURE_PNG

DESK, PHONE = 1366, 390
DOCS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def office(
    server_template: tuple[Path, dict[str, list[str]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    template, tokens = server_template
    root = tmp_path_factory.mktemp("dispatcher-pages")
    data = root / "server"
    shutil.copytree(template, data)
    (data / "config.toml").write_text('[office]\ntimezone = "Asia/Shanghai"\n')
    (root / "tokens.json").write_text(json.dumps(tokens))
    with LiveServer(data) as server:
        yield server


@pytest.fixture(scope="module")
def sessions(office: LiveServer, chromium: Any) -> dict[str, Any]:
    """A signed-in browser session (cookies) and a device token per office role."""
    out: dict[str, Any] = {}
    for name, role in (("chen-jing", "dispatcher"), ("zhao-lei", "supervisor")):
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{office.url}/office/login")
        page.fill("input[name=token]", office.enrollment(name, role))
        page.click("button[type=submit]")
        token = page.inner_text("#device-token").strip()
        page.click("text=Continue")
        out[role] = (context.storage_state(), token)
        context.close()
    return out


@pytest.fixture
def browse(chromium: Any, sessions: dict[str, Any]) -> Iterator[Any]:
    """``browse(width, role="dispatcher", height=900, locale="en-US")``: a page signed in as that
    role, whose browser asks for ``locale`` (the office answers in Chinese for ``zh-CN``)."""
    contexts: list[Any] = []

    def make(width: int, role: str = "dispatcher", height: int = 900, locale: str = "en-US") -> Any:
        state = sessions[role][0] if role else None
        context = chromium.new_context(viewport={"width": width, "height": height}, storage_state=state, locale=locale)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def api(office: LiveServer, sessions: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        base_url=office.url, headers={"Authorization": f"Bearer {sessions['dispatcher'][1]}"}, timeout=10
    )


def next_refresh(page: Any) -> None:
    """Wait for the board's next refresh to land (its event), never for a time."""
    page.evaluate(
        """() => new Promise((resolve, reject) => {
             document.addEventListener('board:refreshed', resolve, {once: true});
             setTimeout(() => reject(new Error('no refresh within 15 s')), 15000);
           })"""
    )


# --- the board ----------------------------------------------------------------------------------


def test_the_board_is_in_urgency_order_with_amber_before_red(office, sessions, browse) -> None:
    with api(office, sessions) as client:
        rows = [r for r in client.get("/api/v1/jobs").json() if r["status"] not in ("closed", "cancelled")]
    page = browse(DESK)
    page.goto(f"{office.url}/office/board")
    shown = page.locator("#board tbody tr.job").evaluate_all("rows => rows.map(r => r.dataset.job)")
    assert shown == [r["id"] for r in rows]
    dues = [(r["sla_due"], r["severity"]) for r in rows if r["sla_due"]]
    assert [d for d, _ in dues] == sorted(d for d, _ in dues)  # deadline first, across statuses
    for r in rows:
        row = page.locator(f"tr[data-job='{r['id']}']")
        assert f"{r['number']} ({r['id']})" in row.inner_text()
        if r["sla_state"] == "at_risk":
            assert "at risk" in row.inner_text()
    # An S1 with two hours left comes before S4 jobs with more time, whatever their status.
    with api(office, sessions) as client:
        made = client.post(
            "/api/v1/jobs", json={"customer_id": "C-01", "site_id": "S-02", "fault": "UPS alarm", "severity": 1}
        ).json()
    page.reload()
    order = page.locator("#board tbody tr.job").evaluate_all("rows => rows.map(r => r.dataset.job)")
    later = [r["id"] for r in rows if r["sla_due"] and r["sla_due"] > made["sla_due"]]
    assert all(order.index(made["id"]) < order.index(i) for i in later)


def test_the_filters_are_a_link_to_share(office, browse) -> None:
    page = browse(DESK)
    page.goto(f"{office.url}/office/board")
    page.select_option("#f-severity", "1")
    page.fill("#q", "pudong")
    with page.expect_navigation():
        page.click("#board-filters button[type=submit]")
    assert "severity=1" in page.url and "q=pudong" in page.url
    shared = browse(DESK)
    shared.goto(page.url)
    ids = shared.locator("#board tbody tr.job").evaluate_all("rows => rows.map(r => r.dataset.job)")
    assert ids and "J-0001" in ids and all(shared.locator(f"tr[data-job='{i}'] .sev1").count() for i in ids)


def test_the_boards_refresh_keeps_keyboard_focus_and_scroll(office, sessions, browse) -> None:
    page = browse(DESK, height=420)
    page.goto(f"{office.url}/office/board")
    page.evaluate("window.__same_page = true")

    # Focus in the filters: a refresh lands, the search box still has it.
    page.focus("#q")
    next_refresh(page)
    assert page.evaluate("document.activeElement.id") == "q"

    # Focus on a job's link far down, scrolled to it: a new urgent job moves every row down.
    last = page.locator("#board tbody tr.job").last
    job_id = last.get_attribute("data-job")
    last.locator("a").focus()
    page.evaluate("window.scrollTo(0, 250)")
    y = page.evaluate("window.scrollY")
    assert y > 0
    with api(office, sessions) as client:
        made = client.post(
            "/api/v1/jobs", json={"customer_id": "C-02", "site_id": "S-03", "fault": "Gate offline", "severity": 1}
        ).json()
    page.wait_for_selector(f"tr[data-job='{made['id']}']", timeout=15_000)
    assert (
        page.evaluate("document.activeElement.closest('tr') && document.activeElement.closest('tr').dataset.job")
        == job_id
    )
    assert page.evaluate("window.scrollY") == y
    assert page.evaluate("window.__same_page") is True  # no reload


# --- every page at a phone's width ----------------------------------------------------------------

DISPATCHER_PAGES = [
    "/office/board",
    "/office/board?severity=1",
    "/office/schedule",
    "/office/jobs/new",
    "/office/jobs/J-0001",
    "/office/jobs/J-0001/edit",
    "/office/conflicts",
    "/office/conflicts?status=all",
    "/office/data",
    "/office/data/customers",
    "/office/data/sites",
    "/office/data/equipment",
    "/office/data/drawings",
    "/office/data/parts",
    "/office/data/stock",
    "/office/data/sites/S-01",
    "/office/data/equipment/EQ-001",
    "/office/data/stock/van%3Au-li-wei%7CPSU-750W",
    "/office/data/sites/new",
]


def wider_than_the_screen(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_no_office_page_scrolls_sideways_at_390_px(office, sessions, browse, locale) -> None:
    with api(office, sessions) as client:  # a stock deficit, so the queue has a card to lay out
        client.post("/api/v1/stock/van:u-zhang-min|FAN-80MM/adjust", json={"delta": -40})
    page = browse(PHONE, locale=locale)
    for path in DISPATCHER_PAGES:
        page.goto(f"{office.url}{path}")
        assert wider_than_the_screen(page) <= 0, f"{path} is wider than 390 px"
        sign_out = page.locator("#sign-out").bounding_box()
        assert sign_out and 0 <= sign_out["x"] and sign_out["x"] + sign_out["width"] <= PHONE, path
    page.goto(f"{office.url}/office/board")
    for sla in page.locator("#board .sla").all()[:5]:
        box = sla.bounding_box()
        assert box and sla.is_visible() and box["x"] + box["width"] <= PHONE
    supervisor = browse(PHONE, role="supervisor", locale=locale)
    supervisor.goto(f"{office.url}/office/audit")
    assert wider_than_the_screen(supervisor) <= 0
    signed_out = browse(PHONE, role="", locale=locale)
    signed_out.goto(f"{office.url}/office/login")
    assert wider_than_the_screen(signed_out) <= 0


# --- contrast, language, headers, skip link ----------------------------------------------------------

CONTRAST = """el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => { const [r, g, b] = c.map(channel); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const style = getComputedStyle(el);
  const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_severity_badges_have_a_contrast_of_4_5_to_1(office, browse) -> None:
    page = browse(DESK)
    page.goto(f"{office.url}/office/jobs/new")  # every level's badge
    for level in (1, 2, 3, 4):
        badge = page.locator(f".sev.sev{level}").first
        assert badge.evaluate(CONTRAST) >= 4.5, f"S{level}"


CHINESE_WITHOUT_LANG = r"""() => {
  const cjk = /[\u3400-\u9fff]/;
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!cjk.test(n.nodeValue) || n.parentElement.closest('script, style')) continue;
    const tagged = n.parentElement.closest('[lang]');
    if (!tagged || !tagged.lang.startsWith('zh')) out.push(n.nodeValue.trim().slice(0, 40));
  }
  return out;
}"""


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize(
    "path", ["/office/board", "/office/schedule", "/office/jobs/J-0004", "/office/data/sites", "/office/data/stock"]
)
def test_chinese_text_is_marked_zh_headers_have_scope_and_a_skip_link_leads_to_the_content(
    office, browse, path, locale
) -> None:
    page = browse(DESK, locale=locale)
    page.goto(f"{office.url}{path}")
    assert page.evaluate("document.documentElement.lang").startswith(locale[:2])  # the page's language
    assert page.evaluate(CHINESE_WITHOUT_LANG) == []
    assert page.locator("thead th:not([scope])").count() == 0
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_office_time_zone_is_shown(office, browse) -> None:
    page = browse(DESK)
    page.goto(f"{office.url}/office/jobs/J-0001")
    assert page.inner_text("#office-zone") == "Times in Asia/Shanghai (UTC+8)"
    assert "UTC+8" in page.inner_text(".sheet")


# --- the README's screenshots -----------------------------------------------------------------------


def test_screenshots_of_the_board_the_conflicts_and_the_sheet(office, sessions, browse, tmp_path) -> None:
    """A laptop works J-0001 and the customer signs; a note after signing outdates the signature;
    an office issue leaves a van short. The board, the queue and the sheet are then shot."""
    from field_client import FieldClient

    target = DOCS if os.environ.get("FIELDSYNC_DOCS_SCREENSHOTS") else SCREENSHOTS
    target.mkdir(parents=True, exist_ok=True)
    li = FieldClient(tmp_path / "li-wei", timeout=20)
    li.login(office.url, office.enrollment("li-wei", "engineer"))
    li.sync()
    li.record_event("J-0001", Checkin(note="owner 刘洋 on site"))
    li.record_event(
        "J-0001",
        Backup(
            scope="system",
            method="iDRAC image",
            stored_at="USB SSD",
            size=52_428_800,
            sha256="c0ffee" + "0" * 58,
            verified=True,
        ),
    )
    quote = li.record_event(
        "J-0001", Quote(lines=[QuoteLine(sku="PSU-750W", unit_price_cents=89_000)], labour_cents=30_000)
    )
    li.record_event("J-0001", CustomerApproval(quote_event_id=quote.id, approved_by="刘洋 Liu Yang"))
    li.record_event(
        "J-0001", PartSwap(equipment_id="EQ-001", sku="PSU-750W", serial_out="PSU-OLD-4711", serial_in="PSU-NEW-0815")
    )
    li.sign("J-0001", "刘洋 Liu Yang", SIGNATURE_PNG, role="system owner")
    li.record_event("J-0001", Note(text="found a second loose cable, re-seated"))
    li.sync()
    with api(office, sessions) as client:
        client.post("/api/v1/stock/van:u-wang-fang|FAN-80MM/adjust", json={"delta": -9})

    page = browse(DESK)
    page.goto(f"{office.url}/office/board")
    page.screenshot(path=str(target / "office-board.png"), full_page=True)
    page.goto(f"{office.url}/office/conflicts")
    assert page.locator("section.conflict[data-kind='signature'] button.resign").count() >= 1
    page.screenshot(path=str(target / "office-conflicts.png"), full_page=True)
    page.goto(f"{office.url}/office/jobs/J-0001")
    page.wait_for_function("document.getElementById('signature-image').naturalWidth > 0")
    page.screenshot(path=str(target / "office-job-sheet.png"), full_page=True)
    phone = browse(PHONE)
    phone.goto(f"{office.url}/office/board")
    phone.screenshot(path=str(target / "office-board-phone.png"), full_page=False)
    li.close()
    assert dt.datetime.now(dt.timezone.utc)
