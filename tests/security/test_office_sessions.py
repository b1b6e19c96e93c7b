"""Issue 9, low: office cookies and forms.

There was no way to mark cookies ``Secure`` behind TLS; logout answered ``fieldsync_session=null``
with a 12-hour ``Max-Age``; CSRF tokens were not bound to the session; nothing checked the
``Origin`` of office writes.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from .attackers import Attack, csrf_of, own_server, post_form, signed_in


def _set_cookies(answer: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie of an answer, by cookie name, as sent."""
    return {SimpleCookie(header).popitem()[0]: header for header in answer.headers.get_list("set-cookie")}


def test_signing_out_ends_the_session_and_expires_its_cookie(attack: Attack) -> None:
    browser = signed_in(attack.server)
    try:
        session = browser.cookies["fieldsync_session"]
        answer = post_form(browser, "/office/board", "/office/logout", {})
        assert answer.status_code == 303
        cookie = _set_cookies(answer)["fieldsync_session"]
        assert "Max-Age=0" in cookie and SimpleCookie(cookie)["fieldsync_session"].value == ""
        stale = httpx.get(f"{attack.server.url}/office/board", cookies={"fieldsync_session": session})
        assert stale.status_code == 303 and "/office/login" in stale.headers["location"]  # gone server-side
    finally:
        browser.close()


def test_a_csrf_token_works_only_with_the_session_it_was_issued_to(attack: Attack) -> None:
    victim, attacker = signed_in(attack.server), signed_in(attack.server)
    try:
        job = attack.new_job()
        their = csrf_of(attacker.get(f"/office/jobs/{job}").text)  # a valid token, of another session
        victim.cookies.set("fieldsync_csrf", their)  # planted in the victim's browser
        answer = victim.post(f"/office/jobs/{job}/cancel", data={"_csrf_token": their})
        assert answer.status_code == 403
        assert attack.record("job", job)["status"] == "assigned"
        anonymous = httpx.Client(base_url=attack.server.url)  # one from a signed-out page
        token = csrf_of(anonymous.get("/office/login").text)
        victim.cookies.set("fieldsync_csrf", token)
        assert victim.post(f"/office/jobs/{job}/cancel", data={"_csrf_token": token}).status_code == 403
        anonymous.close()
    finally:
        victim.close()
        attacker.close()


@pytest.mark.parametrize(
    "headers, allowed",
    [
        ({"Origin": "http://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({}, True),
        ("same", True),
    ],
)
def test_office_writes_from_another_origin_are_refused(attack: Attack, headers, allowed: bool) -> None:
    browser = signed_in(attack.server)
    try:
        job = attack.new_job()
        page = browser.get(f"/office/jobs/{job}/edit")
        sent = {"Origin": attack.server.url} if headers == "same" else headers
        answer = browser.post(
            f"/office/jobs/{job}/edit",
            headers=sent,
            data={
                "_csrf_token": csrf_of(page.text),
                "base_version": str(attack.version("job", job)),
                "fault": "corrected from a page",
                "severity": "3",
                "_orig_fault": "",
                "_orig_severity": "3",
            },
        )
        assert (answer.status_code == 303) == allowed, answer.status_code
        assert (attack.record("job", job)["fault"] == "corrected from a page") == allowed
        api = attack.office.patch(
            f"/api/v1/jobs/{job}",
            headers=sent,
            json={"base_version": attack.version("job", job), "fault": "from an integration"},
        )
        assert (api.status_code == 200) == allowed, api.text
    finally:
        browser.close()


def test_cookies_are_secure_behind_tls(server_template: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    with own_server(server_template, tmp_path, "[security]\nsecure_cookies = true\n") as server:
        browser = httpx.Client(base_url=server.url)
        try:
            page = browser.get("/office/login")
            assert "Secure" in _set_cookies(page)["fieldsync_csrf"]
            token = csrf_of(page.text)  # a browser would send the Secure cookie over TLS only: by hand here
            answer = browser.post(
                "/office/login",
                headers={"Cookie": f"fieldsync_csrf={token}"},
                data={"token": server.enrollment("chen-jing", "dispatcher"), "_csrf_token": token},
            )
            cookies = _set_cookies(answer)
            assert "Secure" in cookies["fieldsync_session"] and "HttpOnly" in cookies["fieldsync_session"]
            assert "Secure" in cookies["fieldsync_csrf"]
        finally:
            browser.close()
