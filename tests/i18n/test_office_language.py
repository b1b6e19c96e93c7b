"""The office pages speak Simplified Chinese and English: every page, in the states a dispatcher
and a supervisor meet, renders in both languages from the catalog (not one message missing, no
English word of the interface left on a Chinese page), in the language the browser asks for,
the person chose on the page, or ``config.toml`` names; times and money are written for it."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.office.i18n import LANG_COOKIE, catalogs
from tests.office.conftest import Laptop, bearer, post_form, sign_in

ZH = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"accept-language": "en-GB,en;q=0.9"}

# Words of the interface that a Chinese page must not show (each is a message of the catalog).
ENGLISH = re.compile(
    r"\b(Board|Sign out|Conflicts|Reference data|Backup audit|New job|Engineer|Severity|Customer|"
    r"Save|Create|Fault|Print|Assign|Show all|Findings|Compliance|Waived|Missing|Site drawings|"
    r"Work record|previous|next|Not found|to respond|to be on site|No jobs|verified|waived)\b"
)


def text_of(html: str) -> str:
    """What a reader sees: no tags, no attribute values, no scripts' data."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return " ".join(html.split())


def pages_of(client: TestClient[Litestar]) -> list[str]:
    """Every page of the office, in the states the demo data and a few laptop events give."""
    paths = [
        "/office/board",
        "/office/board?all=true",
        "/office/jobs/new",
        "/office/jobs/J-0001",
        "/office/jobs/J-0001/edit",
        "/office/jobs/J-0002",
        "/office/conflicts",
        "/office/conflicts?status=resolved",
        "/office/conflicts?status=all",
        "/office/audit",
        "/office/audit?from=2030-01-02&to=2030-01-01",  # refused: the period is upside down
        "/office/data",
        "/office/jobs/J-9999",  # 404
        "/office/data/nothing",  # 404: no such reference data
    ]
    for collection in ("customers", "sites", "equipment", "drawings", "parts", "stock"):
        paths += [f"/office/data/{collection}", f"/office/data/{collection}/new"]
    paths += ["/office/data/customers/C-01", "/office/data/drawings/D-01", "/office/data/sites/S-01"]
    stock = client.get("/office/data/stock").text
    first = re.search(r'href="(/office/data/stock/[^"]+)"', stock)
    assert first
    paths.append(first.group(1))
    return paths


@pytest.fixture
def busy(client: TestClient[Litestar], tokens: dict[str, str]) -> TestClient[Litestar]:
    """The demo office after a morning, seen by the administrator (every page): a job in work
    with a backup and a swap, a field conflict, a refused form and a flash message."""
    assert sign_in(client, tokens["admin"]).status_code == 303
    laptop = Laptop(client, tokens["li-wei"])
    for payload in (
        {"kind": "checkin", "note": "到达机房"},
        {
            "kind": "backup",
            "scope": "system",
            "method": "Veeam",
            "stored_at": "NAS-01",
            "sha256": "ab" * 32,
            "size": 123456,
            "verified": True,
        },
        {"kind": "diagnosis", "cause": "hardware", "findings": "电源故障", "severity": 2},
        {
            "kind": "part_swap",
            "equipment_id": "EQ-001",
            "sku": "PSU-750W",
            "qty": 1,
            "serial_out": "A1",
            "serial_in": "B2",
            "stock_location": "van:u-li-wei",
        },
        {"kind": "test", "result": "pass"},
        {"kind": "note", "text": "一切正常"},
    ):
        laptop.event("J-0001", payload)
    laptop.patch("site", "S-01", 1, contact_phone="+86 10 0000 0001")
    post_form(
        client,
        "/office/data/sites/S-01",
        "/office/data/sites/S-01",
        {"_base_version": "1", "_original": '{"contact_phone": "x"}', "contact_phone": "+86 10 0000 0002"},
    )
    post_form(client, "/office/jobs/new", "/office/jobs", {"customer_id": "", "fault": "x"})  # refused
    return client


@pytest.mark.parametrize(("headers", "lang"), [(ZH, "zh-Hans"), (EN, "en")])
def test_every_office_page_renders_in_both_languages_from_the_catalog(
    busy: TestClient[Litestar], tokens: dict[str, str], headers: dict[str, str], lang: str
) -> None:
    catalogs().missing.clear()
    for path in pages_of(busy):
        page = busy.get(path, headers=headers)
        assert page.status_code in (200, 404, 422), (path, page.status_code, page.text[:300])
        assert f'<html lang="{lang}">' in page.text, path
        assert page.headers["content-language"] == lang
        if lang == "zh-Hans":
            left = ENGLISH.findall(text_of(page.text))
            assert not left, (path, left)
    supervisor = TestClient(busy.app, base_url="http://testserver.local")
    with supervisor:
        for path in ("/office/login",):
            page = supervisor.get(path, headers=headers)
            assert f'<html lang="{lang}">' in page.text
            if lang == "zh-Hans":
                assert not ENGLISH.findall(text_of(page.text)), path
        refused = supervisor.post("/office/login", data={"token": "nonsense"}, headers=headers)
        assert refused.status_code == 403  # no CSRF token: the form's error page, in the language
        if lang == "zh-Hans":
            assert "此表单" in refused.text
    assert catalogs().missing == set(), sorted(catalogs().missing)


def test_flash_messages_and_refusals_are_in_the_readers_language(
    dispatcher: TestClient[Litestar], tokens: dict[str, str]
) -> None:
    dispatcher.cookies.set(LANG_COOKIE, "zh_Hans", domain="testserver.local", path="/office")
    done = post_form(dispatcher, "/office/jobs/J-0002", "/office/jobs/J-0002/assign", {"assignee": "li-wei"})
    assert done.status_code == 303
    sheet = dispatcher.get("/office/jobs/J-0002").text
    assert re.search(r"工单 SR-\d{4}-0002 \(J-0002\) 已派给 Li Wei", sheet)  # both of the job's names
    refused = post_form(
        dispatcher,
        "/office/jobs/new",
        "/office/jobs",
        {"customer_id": "C-404", "site_id": "S-01", "fault": "x", "severity": "2"},
    )
    assert refused.status_code == 422
    assert "没有客户 C-404" in refused.text
    api = dispatcher.post(
        "/api/v1/jobs",
        json={"customer_id": "C-404", "site_id": "S-01", "fault": "x", "severity": 2},
        headers={**bearer(tokens["chen-jing"]), **ZH},
    )
    assert "no customer C-404" in api.text  # the API's messages stay the protocol's English


def test_the_switch_on_the_page_beats_the_browser_and_the_browser_beats_the_setting(
    data_dir: Path, tokens: dict[str, str], dispatcher: TestClient[Litestar]
) -> None:
    (data_dir / "config.toml").write_text('[office]\nlanguage = "zh_Hans"\n')
    assert '<html lang="zh-Hans">' in dispatcher.get("/office/board").text  # no Accept-Language: the setting
    assert '<html lang="en">' in dispatcher.get("/office/board", headers=EN).text
    board = dispatcher.get("/office/board", headers=EN).text
    switch = re.search(r'href="(/office/language\?to=zh_Hans[^"]*)"', board)
    assert switch, "the page links to its Chinese version"
    moved = dispatcher.get(switch.group(1).replace("&amp;", "&"), headers=EN, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/office/board"
    assert f"{LANG_COOKIE}=zh_Hans" in moved.headers["set-cookie"]
    assert '<html lang="zh-Hans">' in dispatcher.get("/office/board", headers=EN).text
    assert dispatcher.get("/office/language?to=fr", follow_redirects=False).status_code == 422
    away = dispatcher.get("/office/language?to=en&next=https://evil.example/", follow_redirects=False)
    assert away.headers["location"] == "/office/"  # never an open redirect


def test_times_money_and_durations_are_written_for_the_locale(busy: TestClient[Litestar]) -> None:
    zh, en = busy.get("/office/jobs/J-0001", headers=ZH).text, busy.get("/office/jobs/J-0001", headers=EN).text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} UTC", zh)
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2} UTC", en)
    assert "123,456 字节" in zh and "123,456 bytes" in en
    board_zh, board_en = busy.get("/office/board", headers=ZH).text, busy.get("/office/board", headers=EN).text
    assert re.search(r"\d+(天|小时|分钟)", text_of(board_zh)) and re.search(r"\d+ (d|h|min)\b", text_of(board_en))
    words = re.search(r"data-words='([^']+)'", board_zh)
    assert words and json.loads(html.unescape(words.group(1)))["minutes"] == "{minutes}分钟"  # board.js's clock
