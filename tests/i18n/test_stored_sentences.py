"""The sentences the server stores in English (a conflict's rule and detail, what changed since a
signature, a merge's message) read in Chinese on the office pages and in the ``field`` CLI, from
the same catalog: no English sentence of ``sync_protocol.sentences`` is left (issue 13)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec
import pytest

from field_client import lang, render
from field_client.workbench import explain
from server.office.i18n import LANG_COOKIE
from sync_protocol import Conflict, Job, JobEvent, sentences
from sync_protocol.hashing import sheet_events, sheet_hash
from tests.office.conftest import Laptop, bearer, post_form, record_of, sign_in, version_of

ZH = {"accept-language": "zh-CN"}
SHA = "ab" * 32
# English words of the stored sentences: none may be left on a Chinese page or line.
ENGLISH = re.compile(
    r"\b(changed on both sides|was kept|the office|the engineer on site|deltas commute|is allowed and flagged|"
    r"taken from|issued from|which held|the sheet changed after|signed it on|added by|a note|a check-in|"
    r"older version|is kept|the job is flagged|recorded|while it was|cannot be installed|nothing changed|"
    r"checked in|backup|via|verified|signature:|flagged by the server|SIGNS AN OLDER|not synced|"
    r"waiting to sync|last sync|open conflicts|user id|server answers)\b"
)


def _troubles(client: Any, tokens: dict[str, str]) -> Laptop:
    """A field clash on a site's phone, a van short of a part, a signature outdated by a late note,
    and work recorded on a job after it was cancelled: every kind of stored sentence."""
    li = Laptop(client, tokens["li-wei"])
    office = bearer(tokens["chen-jing"])
    li.patch("site", "S-01", 1, contact_phone="+86 10 0000 0001")
    edit = client.patch(
        "/api/v1/sites/S-01", headers=office, json={"base_version": 1, "fields": {"contact_phone": "x"}}
    )
    assert edit.json()["status"] == "conflict", edit.text
    li.event("J-0001", {"kind": "checkin", "note": "到达"})
    li.event("J-0001", {"kind": "backup", "scope": "system", "method": "image", "sha256": SHA, "verified": True})
    li.event(
        "J-0001",
        {
            "kind": "part_swap",
            "equipment_id": "EQ-001",
            "sku": "PSU-750W",
            "qty": 9,
            "serial_out": "A",
            "serial_in": "B",
        },
    )
    sheet = client.get("/api/v1/jobs/J-0001/sheet", headers=office).json()
    job = msgspec.convert(sheet["job"], Job)
    stored = [msgspec.convert({**e, "job_id": "J-0001", "entity": "event"}, JobEvent) for e in sheet["events"]]
    li.event(
        "J-0001",
        {
            "kind": "signature",
            "signer": "刘洋",
            "image_sha256": SHA,
            "sheet_hash": sheet_hash(job, stored),
            "event_ids": [e.id for e in sheet_events(stored)],
        },
    )
    li.event("J-0001", {"kind": "note", "text": "found a second loose cable"})
    cancel = client.post("/api/v1/jobs/J-0003/cancel", headers=office, json={"reason": "customer withdrew"})
    assert cancel.status_code == 200, cancel.text
    li.event("J-0003", {"kind": "checkin"})
    return li


def _kinds(client: Any, tokens: dict[str, str]) -> set[str]:
    return {c["kind"] for c in client.get("/api/v1/conflicts", headers=bearer(tokens["chen-jing"])).json()}


def test_every_stored_sentence_is_recovered_from_its_english(client: Any, tokens: dict[str, str]) -> None:
    _troubles(client, tokens)
    assert _kinds(client, tokens) >= {"field", "stock", "signature", "job_state"}
    for conflict in client.get("/api/v1/conflicts", headers=bearer(tokens["chen-jing"])).json():
        for text in (conflict["rule"], conflict["detail"]):
            said = sentences.recover(text)
            assert said == text and said is not text, text  # a template made it: the same English
            marked = sentences.in_language(text, lambda m: f"«{m}»")  # a "catalog" that marks what it says
            assert marked.startswith("«") and marked.endswith("»"), (text, marked)
    typed = "typed by a person, not by the server"
    assert sentences.in_language(typed, lambda m: f"«{m}»") == typed


def test_the_office_conflicts_and_sheet_say_them_in_chinese(client: Any, tokens: dict[str, str]) -> None:
    _troubles(client, tokens)
    sign_in(client, tokens["admin"])
    queue = client.get("/office/conflicts", headers=ZH).text
    for section in re.findall(r'<section class="card conflict".*?</section>', queue, flags=re.S):
        words = re.sub(r"<[^>]+>", " ", section.split("</h2>")[1].split('<table class="values">')[0])
        rule = re.sub(r"<[^>]+>", " ", section.split('<p class="muted">')[1].split("</p>")[0])
        assert not ENGLISH.findall(words + rule), (words, rule)
    assert "在双方都被修改" in queue and "库存增减可交换" in queue and "签字后" in queue and "现场工作予以保留" in queue
    sheet = client.get("/office/jobs/J-0001", headers=ZH).text
    changes = sheet.split('id="signature-changes"')[1].split("</ul>")[0]
    assert "添加了一条备注" in changes and not ENGLISH.findall(changes), changes


def test_an_office_edits_merge_message_is_in_the_readers_language(
    client: Any, tokens: dict[str, str], app: Any
) -> None:
    li = Laptop(client, tokens["li-wei"])
    sign_in(client, tokens["chen-jing"])
    client.cookies.set(LANG_COOKIE, "zh_Hans", domain="testserver.local", path="/office")
    base = version_of(app, "site", "S-01")
    li.patch("site", "S-01", base, contact_phone="+86 10 0000 0001")
    done = post_form(
        client,
        "/office/data/sites/S-01",
        "/office/data/sites/S-01",
        {"_base_version": str(base), "_original": '{"contact_phone": "x"}', "contact_phone": "+86 10 0000 0002"},
    )
    assert done.status_code == 303
    flash = client.get(done.headers["location"]).text.split('class="flash')[1].split("</div>")[0]
    assert "contact_phone 在双方都被修改" in flash and "changed on both sides" not in flash, flash
    assert record_of(app, "site", "S-01")


@pytest.fixture
def chinese_cli() -> Any:
    lang.use({"LANG": "zh_CN.UTF-8"})
    yield lang._
    lang.use({"LANG": "C"})


def test_the_cli_says_timeline_conflicts_and_status_in_chinese(
    client: Any, tokens: dict[str, str], chinese_cli: Any
) -> None:
    _troubles(client, tokens)
    page = client.post("/sync/v1/pull", json={"cursor": None, "limit": 5000}, headers=bearer(tokens["li-wei"])).json()
    records = [c["record"] for c in page["changes"] if c.get("record")]
    conflicts = [msgspec.convert(r, Conflict) for r in records if r.get("entity") == "conflict"]
    events = [msgspec.convert(r, JobEvent) for r in records if r.get("entity") == "event" and r["job_id"] == "J-0001"]
    assert {c.kind for c in conflicts} >= {"field", "stock", "signature", "job_state"}
    lines = [explain(c, chinese_cli) for c in conflicts]
    assert not ENGLISH.findall("\n".join(lines)), lines
    timeline = [render.event_line(e, pending=True) for e in events]
    assert any("已到场签到" in line for line in timeline) and all("[未同步]" in line for line in timeline)
    assert not ENGLISH.findall("\n".join(timeline)), timeline
    status = render.status_text(
        {"user_id": "u-li-wei", "pending": 2, "open_conflicts": 1, "last_sync_at": None, "server_reachable": True}
    )
    assert "等待同步" in status and "上次同步" in status and not ENGLISH.findall(status), status
    assert dt.datetime.now(dt.timezone.utc)


def test_the_audits_reasons_are_in_the_readers_language(client: Any, tokens: dict[str, str]) -> None:
    li = Laptop(client, tokens["li-wei"])
    swap = {"kind": "part_swap", "equipment_id": "EQ-001", "sku": "PSU-750W", "serial_out": "A", "serial_in": "B"}
    li.event("J-0001", {**swap, "no_backup_ack": True})
    sign_in(client, tokens["zhao-lei"])
    row = client.get("/office/audit", headers=ZH).text.split('class="finding ')[1].split("</tr>")[0]
    assert "没有备份记录；工程师已确认在无备份的情况下作业" in row and "no backup recorded" not in row, row
    [finding] = client.get("/api/v1/audit/backups", headers=bearer(tokens["zhao-lei"])).json()["findings"]
    assert finding["reason"] == "no backup recorded; the engineer acknowledged working without one"  # the API: English
