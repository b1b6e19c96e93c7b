"""The shared message catalogs are used: every page of the laptop app, in every state it shows,
renders in both languages without one message missing from the catalog (that the catalogs are
complete and compiled is checked in tests/i18n)."""

from __future__ import annotations

import base64
import datetime as dt
import io

from PIL import Image

from sync_protocol import Conflict, Party
from field_client import replica
from .conftest import Browser


def _png() -> str:
    image = Image.new("RGBA", (400, 150), (0, 0, 0, 0))
    for x in range(20, 380):
        image.putpixel((x, 60 + x % 40), (0, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def test_every_page_in_every_state_renders_in_both_languages_from_the_catalog(app, browser: Browser, laptop) -> None:
    laptop.today = lambda: dt.date(2031, 1, 1)  # paid work: the quote step is required
    job = "J-0001"
    posts = [
        ("swap", {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "A", "serial_in": "B"}),  # refused: backup
        ("backup/waive", {"waive_reason": ""}),  # refused: reason
        ("checkin", {"note": "到了"}),
        ("backup", {"scope": "data", "method": "rsync", "stored_at": "NAS", "sha256": "ab" * 32, "size": "5"}),
        ("backup/waive", {"waive_reason": "read-only appliance"}),
        ("diagnosis", {"cause": "human", "findings": "dropped", "severity": "2"}),
        ("swap", {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "A", "serial_in": "B"}),  # refused: approval
        ("approval", {"by": "王", "decision": "approve"}),  # refused: no quote
        ("quote", {"part_1": "PSU-750W", "qty_1": "2", "labour": "300"}),
        ("approval", {"by": "王建国", "decision": "decline"}),
        ("quote", {"part_1": "PSU-750W", "labour": "12.345"}),  # refused: amount
        ("quote", {"part_1": "PSU-750W"}),
        ("approval", {"by": "王建国", "decision": "approve"}),
        (
            "swap",
            {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "A", "serial_in": "A"},
        ),  # refused: same serial
        (
            "swap",
            {"equipment": "EQ-001", "part": "PSU-750W", "serial_out": "A", "serial_in": "B", "no_backup_ack": "1"},
        ),
        ("loaner", {"device": "spare"}),
        ("loaner", {"device": "spare", "returned": "1"}),
        ("test", {"result": "fail", "notes": "fan"}),
        ("test", {"result": "pass"}),
        ("note", {"text": ""}),  # refused: required
        ("note", {"text": "备注"}),
        ("escalate", {"reason": ""}),
    ]
    pages = []
    for path, form in posts:
        answer = browser.post(f"/jobs/{job}/{path}", form)
        assert answer.status_code in (303, 422), (path, answer.text[:300])
        if answer.status_code == 422:
            pages.append(answer.text)
    shown = browser.get(f"/jobs/{job}/sign").text
    sheet = shown.split('name="sheet_hash" value="')[1][:64]
    for image in ("", _png()):
        browser.post(f"/jobs/{job}/sign", {"signer": "王建国", "role": "经理", "image": image, "sheet_hash": sheet})
    browser.post(f"/jobs/{job}/note", {"text": "after signing"})
    browser.post(f"/jobs/{job}/resolve", {})
    browser.post("/jobs/J-0002/escalate", {"reason": "needs a backplane"})
    browser.post(f"/jobs/{job}/photo", {})
    laptop.store.write(
        lambda c: replica.put(
            c,
            Conflict(
                id="CF-1",
                kind="field",
                record_entity="site",
                record_id="S-01",
                field="contact_phone",
                job_id=job,
                kept="1",
                other="2",
                kept_by=Party(side="field"),
                other_by=Party(side="office"),
                rule="field owns it",
                created_at=dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc),
            ),
            9,
        )
    )
    browser.post("/sync", {})  # the laptop's server is unreachable: the sync page says so
    app.runner.wait(60)
    for locale in ("en", "zh-CN"):
        for path in (
            "/",
            f"/jobs/{job}",
            "/jobs/J-0002",
            "/jobs/J-0003",
            f"/jobs/{job}/sign",
            f"/jobs/{job}/report",
            "/jobs/J-0002/report",
            "/sync",
            "/sync/state",
            "/drawings/D-01?job=J-0001",
            "/drawings/D-02",
            "/jobs/J-9999",
        ):
            answer = browser.get(path, headers={"accept-language": locale})
            assert answer.status_code in (200, 404), (path, answer.status_code)
        assert browser.http.get("/", headers={"host": "evil.example", "accept-language": locale}).status_code == 403
        assert browser.post("/jobs/J-0001/note", {}, csrf=False, headers={"accept-language": locale}).status_code == 403
    assert len(pages) >= 6
    assert app.catalogs.missing == set(), sorted(app.catalogs.missing)
