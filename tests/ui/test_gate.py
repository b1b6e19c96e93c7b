"""Only the engineer's browser drives the app: no cookie, no page; another host or origin, no
answer; no CSRF token, no write. Every route of the app is tried, so a new one cannot slip by."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from field_client.ui import LaptopApp

from .conftest import Browser, pending

SAMPLE = {"job_id": "J-0001", "drawing_id": "D-01", "sha256": "0" * 64, "entity": "site", "record_id": "S-01"}


def routes(app: LaptopApp, method: str) -> list[str]:
    """Every path of the app answering ``method``, its parameters filled in."""
    out = []
    for route in app.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if method in handler.http_methods and not route.path.startswith("/static"):
                out.append(re.sub(r"\{(\w+):\w+\}", lambda m: SAMPLE[m.group(1)], route.path))
    return sorted(set(out))


def test_every_route_is_tried(app: LaptopApp) -> None:
    assert {"/", "/jobs/J-0001", "/jobs/J-0001/sign", "/jobs/J-0001/report", "/sync"} <= set(routes(app, "GET"))
    assert {"/jobs/J-0001/swap", "/jobs/J-0001/sign", "/sync", "/lang"} <= set(routes(app, "POST"))


def test_without_the_session_cookie_every_page_and_write_is_refused(app: LaptopApp, laptop) -> None:
    with httpx.Client(base_url=app.origin, timeout=10) as stranger:
        for path in routes(app, "GET") + ["/static/app.js", "/no/such/page"]:
            if path == "/open":
                continue
            answer = stranger.get(path)
            assert answer.status_code == 401, path
            assert "field ui" in answer.text and "J-0001" not in answer.text
        for path in routes(app, "POST"):
            answer = stranger.post(path, data={"note": "x", "text": "x"}, headers={"origin": app.origin})
            assert answer.status_code == 401, path
    assert pending(laptop) == 0


def test_the_opening_secret_works_once_and_only_exactly(app: LaptopApp) -> None:
    url = app.url
    with httpx.Client(timeout=10) as other:
        assert other.get(url.replace("secret=", "secret=x")).status_code == 403
        assert other.get(f"{app.origin}/open").status_code == 403
    first = Browser(app)
    cookie = first.http.cookies.get(app.gate.cookie)
    assert cookie and first.get("/").status_code == 200
    assert first.get(url).status_code == 303  # the same browser opening the link again carries on
    with httpx.Client(timeout=10) as late:
        assert late.get(url).status_code == 403  # spent: a copied link opens nothing
    raw = httpx.get(url, timeout=10)
    assert raw.status_code == 403
    first.close()


def test_the_session_cookie_is_httponly_and_strict(app: LaptopApp) -> None:
    answer = httpx.get(app.url, timeout=10)
    header = answer.headers["set-cookie"]
    assert answer.status_code == 303 and "HttpOnly" in header and "SameSite=Strict" in header
    assert header.startswith(f"fieldui-{app.port}=")


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "localhost:{port}", "127.0.0.1:1", "127.0.0.1.nip.io:{port}"]
)
def test_a_foreign_host_is_refused(browser: Browser, app: LaptopApp, laptop, host: str) -> None:
    host = host.format(port=app.port)
    assert browser.get("/", headers={"host": host}).status_code == 403
    assert browser.get("/jobs/J-0001", headers={"host": host}).status_code == 403
    refused = browser.post("/jobs/J-0001/note", {"text": "rebound"}, headers={"host": host})
    assert refused.status_code == 403
    assert pending(laptop) == 0


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "http://127.0.0.1:1", "null", "https://127.0.0.1:{port}", "http://localhost:{port}"],
)
def test_a_foreign_origin_is_refused(browser: Browser, app: LaptopApp, laptop, origin: str) -> None:
    origin = origin.format(port=app.port)
    token = browser.csrf()
    answer = browser.http.post(
        "/jobs/J-0001/note", data={"text": "from elsewhere", "csrf": token}, headers={"origin": origin}
    )
    assert answer.status_code == 403
    assert browser.get("/sync/state", headers={"origin": origin}).status_code == 403
    assert pending(laptop) == 0


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_request_made_by_another_site_is_refused(browser: Browser, laptop, site: str) -> None:
    """``same-site`` is a page on another port of 127.0.0.1: cookies do not tell ports apart."""
    assert browser.get("/jobs/J-0001", headers={"sec-fetch-site": site}).status_code == 403
    token = browser.csrf()
    answer = browser.http.post(
        "/jobs/J-0001/note",
        data={"text": "x", "csrf": token},
        headers={"sec-fetch-site": site, "origin": browser.app.origin},
    )
    assert answer.status_code == 403 and pending(laptop) == 0
    assert browser.get("/jobs/J-0001", headers={"sec-fetch-site": "same-origin"}).status_code == 200


def test_a_write_without_origin_is_refused(browser: Browser, laptop) -> None:
    answer = browser.http.post("/jobs/J-0001/note", data={"text": "x", "csrf": browser.csrf()})
    assert answer.status_code == 403 and pending(laptop) == 0


def test_no_write_without_the_csrf_token(browser: Browser, app: LaptopApp, laptop) -> None:
    form = {
        "note": "x",
        "text": "x",
        "reason": "x",
        "waive_reason": "x",
        "lang": "zh_Hans",
        "by": "x",
        "decision": "approve",
        "result": "pass",
        "device": "x",
    }
    real = browser.csrf()
    for path in routes(app, "POST"):
        for token in (None, "forged", real + "x"):
            data = dict(form) if token is None else {**form, "csrf": token}
            answer = browser.post(path, data, csrf=False)
            assert answer.status_code == 403, (path, token)
            assert "expired" in answer.text
        header = browser.http.post(
            path,
            content=b"bytes",
            headers={"origin": app.origin, "x-csrf-token": "forged", "content-type": "application/octet-stream"},
        )
        assert header.status_code == 403, path
    assert pending(laptop) == 0
    assert app.runner.state()["runs"] == 0 and not app.runner.state()["running"]
    assert browser.post("/jobs/J-0001/note", {"text": "with the token"}).status_code == 303
    assert pending(laptop) == 1


def test_a_script_sends_the_token_in_a_header(browser: Browser, app: LaptopApp) -> None:
    answer = browser.http.post(
        "/jobs/J-0001/backup/hash",
        content=b"x" * 100_000,
        headers={"origin": app.origin, "x-csrf-token": browser.csrf(), "content-type": "application/octet-stream"},
    )
    assert answer.status_code in (200, 201)
    assert answer.json() == {"sha256": __import__("hashlib").sha256(b"x" * 100_000).hexdigest(), "size": 100_000}


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        self.found += [f"{tag} {name}=" for name in names if name.startswith("on") or name == "style"]
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name in ("href", "src", "action") and str(value).lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}=javascript:")


def test_every_answer_has_a_strict_csp_and_pages_carry_no_inline_code(browser: Browser, app: LaptopApp) -> None:
    for path in routes(app, "GET") + ["/static/app.js", "/no/such/page"]:
        if path in ("/open", "/files/blobs/" + "0" * 64):
            continue
        answer = browser.get(path)
        csp = answer.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "script-src 'self'" in csp, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        if answer.headers.get("content-type", "").startswith("text/html"):
            parser = _Inline()
            parser.feed(answer.text)
            assert parser.found == [], (path, parser.found)
    refused = httpx.get(f"{app.origin}/", timeout=10)
    assert "unsafe-inline" not in refused.headers["content-security-policy"]


def test_only_real_images_are_served_from_the_cache(browser: Browser, laptop) -> None:
    page = laptop.add_blob(b"<html><script>alert(1)</script></html>", "image/png")
    assert browser.get(f"/files/blobs/{page}").status_code == 404
    png = (
        __import__("pathlib").Path(__file__).resolve().parents[2] / "fixtures" / "demo" / "signature.png"
    ).read_bytes()
    sha = laptop.add_blob(png, "image/png")
    shown = browser.get(f"/files/blobs/{sha}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png" and shown.content == png
