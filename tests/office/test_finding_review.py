"""A supervisor marks an audit finding reviewed, with a comment (issue 13): stored on the server,
shown on the page, in the JSON and the CSV, chained in the audit log (which still verifies and
catches a comment changed behind the server), and never on anybody's laptop."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from server import cli
from server.storage import audit
from sync_protocol.bounds import MAX_COMMENT
from tests.office.conftest import Laptop, bearer, csrf_of, post_form, sign_in
from tests.support.databases import tamper

from .test_supervisor_audit import SWAP

REVIEW = "/api/v1/audit/findings/J-0001/{engineer}/review"
COMMENT = "Phoned 李伟: the customer's NAS was down, backup made on USB afterwards. <b>ok</b>"


def _li_wei_id(client: Any, tokens: dict[str, str]) -> str:
    report = client.get("/api/v1/audit/backups", headers=bearer(tokens["zhao-lei"])).json()
    [finding] = [f for f in report["findings"] if f["job_id"] == "J-0001"]
    return str(finding["engineer"])


def _review(client: Any, token: str, engineer: str, comment: str = COMMENT, job: str = "J-0001") -> Any:
    return client.post(
        REVIEW.replace("J-0001", job).format(engineer=engineer), json={"comment": comment}, headers=bearer(token)
    )


def test_a_supervisor_marks_a_finding_reviewed_and_it_shows_in_the_json_and_the_csv(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    li_wei.event("J-0001", SWAP)
    engineer = _li_wei_id(client, tokens)
    answer = _review(client, tokens["zhao-lei"], engineer)
    assert answer.status_code == 200, answer.text
    assert answer.json()["reviewed_by_name"] == "Zhao Lei (赵磊)" and answer.json()["version"] == 1
    [finding] = client.get("/api/v1/audit/backups", headers=bearer(tokens["zhao-lei"])).json()["findings"]
    assert finding["review_comment"] == COMMENT and finding["reviewed_by_name"] == "Zhao Lei (赵磊)"
    assert finding["reviewed_at"]
    csv_text = client.get("/api/v1/audit/backups.csv", headers=bearer(tokens["zhao-lei"])).content.decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(csv_text)))
    assert (row["reviewed_by"], row["review_comment"]) == ("Zhao Lei (赵磊)", COMMENT) and row["reviewed_at"]
    again = _review(client, tokens["admin"], "li-wei", "second look: fine")  # by name, as people say it
    assert again.status_code == 200 and again.json()["version"] == 2  # the latest review is shown


def test_only_supervisors_and_admins_may_mark_and_a_bad_comment_or_finding_is_named(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    li_wei.event("J-0001", SWAP)
    engineer = _li_wei_id(client, tokens)
    for name in ("chen-jing", "li-wei"):
        refused = _review(client, tokens[name], engineer)
        assert refused.status_code == 403 and refused.json()["field"] == "role"
    assert client.post(REVIEW.format(engineer=engineer), json={"comment": "x"}).status_code == 401
    for comment in ("   ", "x" * (MAX_COMMENT + 1)):
        bad = _review(client, tokens["zhao-lei"], engineer, comment)
        assert bad.status_code == 422 and bad.json()["field"] == "comment", bad.text
    nobody = _review(client, tokens["zhao-lei"], "u-nobody")
    assert nobody.status_code == 404 and nobody.json()["field"] == "engineer"
    no_job = _review(client, tokens["zhao-lei"], engineer, job="J-9999")
    assert no_job.status_code == 404 and no_job.json()["field"] == "job_id"
    [finding] = client.get("/api/v1/audit/backups", headers=bearer(tokens["zhao-lei"])).json()["findings"]
    assert finding["reviewed_by"] is None  # nothing refused was stored


def test_the_review_is_chained_verified_and_reaches_no_laptop(
    client: Any, tokens: dict[str, str], li_wei: Laptop, data_dir: Path, capsys: Any
) -> None:
    li_wei.event("J-0001", SWAP)
    engineer = _li_wei_id(client, tokens)
    assert _review(client, tokens["zhao-lei"], engineer).status_code == 200
    state = client.app.state.fieldsync
    rows = [r for r in state.db.read(lambda c: list(audit.rows(c))) if r.kind == "office.review"]
    assert [(r.entity, r.id, r.version, r.ref) for r in rows] == [
        ("finding_review", f"J-0001|{engineer}", 1, "SR-2026-0001")
    ]
    assert state.db.read(audit.verify).ok
    for name in ("li-wei", "zhang-min"):
        page = client.post("/sync/v1/pull", json={"cursor": None, "limit": 5000}, headers=bearer(tokens[name]))
        assert page.status_code == 200 and "NAS was down" not in page.text and "finding_review" not in page.text
    state.db.close()
    tamper(data_dir, "UPDATE finding_reviews SET comment='all fine'")  # a comment softened behind the server
    assert cli.main(["audit", "verify", "--data", str(data_dir), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "finding_review" in report["first_broken"]["problem"]


def test_the_page_marks_a_finding_reviewed_through_its_form_with_csrf(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    li_wei.event("J-0001", SWAP)
    engineer = _li_wei_id(client, tokens)
    sign_in(client, tokens["zhao-lei"])
    action = f"/office/audit/findings/J-0001/{engineer}/review"
    no_token = client.post(action, data={"comment": "x"}, follow_redirects=False)
    assert no_token.status_code == 403
    done = post_form(
        client,
        "/office/audit?period=this_month",
        action,
        {"comment": COMMENT, "next": "/office/audit?period=this_month"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/office/audit?period=this_month"
    page = client.get(done.headers["location"], headers={"accept-language": "en"}).text
    review = page.split('class="review"')[1].split("</td>")[0]
    assert "Zhao Lei" in review and "&lt;b&gt;ok&lt;/b&gt;" in review and "<b>ok" not in review
    assert "marked reviewed" in page
    empty = post_form(client, "/office/audit", action, {"comment": " "})
    assert empty.status_code == 303
    assert "write what you reviewed" in client.get("/office/audit").text  # refused in words, on the page
    offsite = post_form(client, "/office/audit", action, {"comment": "ok", "next": "https://evil.example/"})
    assert offsite.headers["location"] == "/office/audit"


def test_a_dispatcher_sees_no_review_form_and_may_not_post_one(
    client: Any, tokens: dict[str, str], li_wei: Laptop
) -> None:
    li_wei.event("J-0001", SWAP)
    engineer = _li_wei_id(client, tokens)
    sign_in(client, tokens["chen-jing"])
    page = client.get("/office/board")
    refused = client.post(
        f"/office/audit/findings/J-0001/{engineer}/review",
        data={"comment": "x", "_csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert refused.status_code == 403
