"""Stock and signature conflicts in words, with the actions that fit them: correct the stock to
what was counted (through the one stock write path, audited), or ask the engineer to have the
sheet signed again (a flag on the job that a valid signature clears)."""

from __future__ import annotations

import datetime as dt
import html
import re

from .conftest import bearer, post_form, record_of, sign_in
from .test_audit_and_sheet import _checked_in_and_signed


def _card(page: str, conflict_id: str) -> str:
    return html.unescape(page.split(f'data-conflict="{conflict_id}"')[1].split("</section>")[0])


def _deficit(client, headers) -> tuple[str, str]:
    """Li Wei's van is 2 short of PSU-750W (an office issue of more than it held)."""
    stock_id = "van:u-li-wei|PSU-750W"
    held = record_of(client.app, "stock", stock_id)["qty"]
    issued = client.post(f"/api/v1/stock/{stock_id}/adjust", headers=headers, json={"delta": -(held + 2)}).json()
    assert issued["status"] == "conflict"
    return stock_id, issued["conflicts"][0]


def test_a_stock_deficit_reads_in_words_and_is_corrected_to_the_count(client, tokens, app) -> None:
    headers = bearer(tokens["chen-jing"])
    stock_id, conflict_id = _deficit(client, headers)
    sign_in(client, tokens["chen-jing"])
    card = _card(client.get("/office/conflicts").text, conflict_id)
    assert "The records show -2 of PSU-750W (Power supply 750 W 服务器电源) in Li Wei (李伟)'s van" in card
    assert "2 short" in card and "van:u-li-wei" not in card and "Correct the stock" in card
    assert "Use the other value" not in card

    refused = post_form(client, "/office/conflicts", f"/office/conflicts/{conflict_id}/stock", {"counted": "-1"})
    assert refused.status_code == 303 and record_of(app, "conflict", conflict_id).get("status", "open") == "open"
    done = post_form(client, "/office/conflicts", f"/office/conflicts/{conflict_id}/stock", {"counted": "3"})
    assert done.status_code == 303
    assert record_of(app, "stock", stock_id)["qty"] == 3
    settled = record_of(app, "conflict", conflict_id)
    assert (settled["status"], settled["resolution"]) == ("resolved", "accepted")
    assert (
        "Stock corrected: PSU-750W (Power supply 750 W 服务器电源) in Li Wei (李伟)'s van is now 3."
        in html.unescape(client.get("/office/conflicts").text)
    )
    state = app.state.fieldsync
    chained = state.db.read(
        lambda c: c.execute(
            "SELECT count(*) FROM audit_log WHERE kind='office.stock_correct' AND entity='stock' AND id=?", (stock_id,)
        ).fetchone()[0]
    )
    assert chained == 1


def test_a_signature_conflict_asks_the_engineer_to_have_the_sheet_re_signed(client, tokens, li_wei, app) -> None:
    headers = bearer(tokens["chen-jing"])
    _checked_in_and_signed(client, headers, li_wei)
    li_wei.event("J-0001", {"kind": "note", "text": "found a second loose cable"})
    [conflict] = [c for c in client.get("/api/v1/conflicts", headers=headers).json() if c["kind"] == "signature"]
    sign_in(client, tokens["chen-jing"])
    card = _card(client.get("/office/conflicts").text, conflict["id"])
    assert "the sheet changed after Liu Yang signed it" in card and "a note added by Li Wei (李伟)" in card
    assert conflict["kept"] not in card and conflict["other"] not in card  # no hashes
    assert "Ask Li Wei (李伟) to have the sheet re-signed" in card and "SR-2026-0001 (J-0001)" in card

    done = post_form(client, "/office/conflicts", f"/office/conflicts/{conflict['id']}/resign", {})
    assert done.status_code == 303
    assert "re_sign_requested" in record_of(app, "job", "J-0001")["flags"]
    assert record_of(app, "conflict", conflict["id"])["status"] == "resolved"
    assert "Li Wei (李伟) is asked to have the sheet of SR-2026-0001 (J-0001) signed again." in html.unescape(
        client.get("/office/conflicts").text
    )
    # The customer signs the sheet as it stands now: the request is met.
    _checked_in_and_signed(client, headers, li_wei)
    job = record_of(app, "job", "J-0001")
    assert job["signature_state"] == "valid" and "re_sign_requested" not in job.get("flags", [])
    assert re.search(r"office\.resign_request", str(_kinds(app)))


def _kinds(app) -> list[str]:
    state = app.state.fieldsync
    return [r[0] for r in state.db.read(lambda c: c.execute("SELECT DISTINCT kind FROM audit_log").fetchall())]


def test_what_changed_since_a_signature_reads_in_the_office_time_zone(client, tokens, li_wei, data_dir) -> None:
    """The conflict stores its times in UTC (it is synced as text); an office in Shanghai reads
    them on its own clock, in English and in Chinese, on the queue and on the sheet."""
    (data_dir / "config.toml").write_text('[office]\ntimezone = "Asia/Shanghai"\n')
    headers = bearer(tokens["chen-jing"])
    _checked_in_and_signed(client, headers, li_wei)
    at = dt.datetime(2026, 11, 20, 9, 42, tzinfo=dt.timezone.utc)
    li_wei.event("J-0001", {"kind": "note", "text": "found a second loose cable"}, at=at)
    [conflict] = [c for c in client.get("/api/v1/conflicts", headers=headers).json() if c["kind"] == "signature"]
    assert "on 2026-11-20 09:42 UTC" in conflict["detail"]  # the API carries what was stored
    sign_in(client, tokens["chen-jing"])
    stamped = re.compile(r"\d{2}:\d{2} UTC(?![+-])")  # a stored UTC stamp shown as it was stored
    card = _card(client.get("/office/conflicts").text, conflict["id"])
    sheet = html.unescape(client.get("/office/jobs/J-0001").text)
    for page in (card, sheet):
        assert "a note added by Li Wei (李伟) on Nov 20, 2026 17:42 UTC+8" in page
        assert not stamped.search(page), stamped.search(page)
    zh = {"accept-language": "zh-CN"}
    card = _card(client.get("/office/conflicts", headers=zh).text, conflict["id"])
    sheet = html.unescape(client.get("/office/jobs/J-0001", headers=zh).text)
    for page in (card, sheet):
        assert "2026年11月20日 17:42 UTC+8" in page and not stamped.search(page)


def test_the_re_signature_request_reads_in_the_pages_language(client, tokens, li_wei) -> None:
    headers = bearer(tokens["chen-jing"])
    _checked_in_and_signed(client, headers, li_wei)
    li_wei.event("J-0001", {"kind": "note", "text": "found a second loose cable"})
    [conflict] = [c for c in client.get("/api/v1/conflicts", headers=headers).json() if c["kind"] == "signature"]
    sign_in(client, tokens["chen-jing"])
    post_form(client, "/office/conflicts", f"/office/conflicts/{conflict['id']}/resign", {})
    for path in ("/office/", "/office/jobs/J-0001"):
        english = client.get(path).text
        chinese = client.get(path, headers={"accept-language": "zh-CN"}).text
        assert "re-signature requested" in english and "re sign requested" not in english
        assert "请客户重新签字" in chinese and "re sign" not in chinese and "re-signature" not in chinese
