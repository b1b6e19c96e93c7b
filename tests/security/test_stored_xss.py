"""Issue 9, hole 4: nothing stored can run in an office page, in a real browser.

The job sheet put the job number inside a JavaScript string in an ``onsubmit`` attribute; the
attribute parser un-escapes ``&#39;``, so a number broke out, ran on a dispatcher's click and read
the CSRF cookie. Now no page carries inline script or handlers, and every page is held to that by
a Content-Security-Policy without ``unsafe-inline`` (and ``frame-ancestors 'none'``).

The hostile records arrive the way an operator's import would bring them: ``field-server
load-fixtures`` (push and the office API no longer let anyone rewrite a job number).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.live import run_cli

from .attackers import Attack

NUMBER = "SR-X');window.__pwned='number';//<img src=x onerror=\"window.__pwned='img'\">"
FAULT = "</textarea><script>window.__pwned='fault'</script>"
NAME = '"><svg onload="window.__pwned=\'name\'">'
JOB = "J-XSS-1"


@pytest.fixture(scope="module")
def hostile_job(attack: Attack, tmp_path_factory: pytest.TempPathFactory) -> str:
    fixture = {
        "format": "fieldsync-fixtures/1",
        "records": [
            {"entity": "customer", "id": "C-XSS", "name": NAME, "notes": FAULT},
            {"entity": "site", "id": "S-XSS", "customer_id": "C-XSS", "name": NAME, "access_notes": FAULT},
            {
                "entity": "job",
                "id": JOB,
                "number": NUMBER,
                "customer_id": "C-XSS",
                "site_id": "S-XSS",
                "fault": FAULT,
                "severity": 1,
                "reported_by": NAME,
                "reported_at": "2026-11-30T08:00:00Z",
                "status": "assigned",
                "assignee": "u-li-wei",
                "assignee_name": NAME,
            },
        ],
    }
    path = Path(tmp_path_factory.mktemp("xss")) / "hostile.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    run_cli("field-server", "load-fixtures", "--data", str(attack.server.data_dir), str(path))
    return JOB


def sign_in(page, attack: Attack) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{attack.server.url}/office/login")
    page.fill("input[name=token]", attack.server.enrollment("chen-jing", "dispatcher"))
    page.click("button[type=submit]")
    page.click("text=Continue")


def test_a_hostile_job_number_runs_nowhere_in_the_office(attack: Attack, hostile_job: str, new_page) -> None:
    page = new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    sign_in(page, attack)
    for path in (
        f"/office/jobs/{hostile_job}",
        "/office/board",
        "/office/data/customers/C-XSS",
        "/office/data/sites/S-XSS",
        f"/office/jobs/{hostile_job}/edit",
    ):
        page.goto(attack.server.url + path)
        assert page.evaluate("window.__pwned") is None, path

    page.goto(f"{attack.server.url}/office/jobs/{hostile_job}")
    asked: list[str] = []

    def answer(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    page.click("button:has-text('Cancel job')")
    assert asked == [f"Cancel job {NUMBER} ({hostile_job})?"]  # the number, shown as text
    assert page.evaluate("window.__pwned") is None
    assert attack.record("job", hostile_job)["status"] == "assigned"  # dismissed: nothing sent

    # The policy itself: an inline script that got into the page anyway does not run.
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__inline = 1'; document.body.appendChild(s); }""")
    assert page.evaluate("window.__inline") is None and violations


@pytest.mark.parametrize(
    "path", ["/office/login", "/office/board", "/office/jobs/J-0001", "/api/v1/jobs", "/sync/v1/hello", "/no/such/page"]
)
def test_every_answer_carries_the_policy(attack: Attack, path: str) -> None:
    answer = httpx.get(attack.server.url + path)
    policy = answer.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert answer.headers["x-frame-options"] == "DENY"


def test_no_template_carries_inline_script_or_handlers() -> None:
    import re

    templates = Path(__file__).resolve().parents[2] / "server" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), template.name
        assert "javascript:" not in text.lower(), template.name
