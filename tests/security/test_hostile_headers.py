"""Issue 9, low: numbers and headers no client sends must be a 4xx, never a 500.

5,000-digit integers in ``Range``, ``offset`` or ``size`` and ``Accept: application/json;q=1e999``
answered 500 (the last one without a token, raised inside the error handler, with a traceback
logged each time).
"""

from __future__ import annotations

import httpx
import pytest

from .attackers import Attack

HUGE = "9" * 5000


@pytest.mark.parametrize("query, field", [(f"offset={HUGE}&size=3", "offset"), (f"offset=0&size={HUGE}", "size")])
def test_huge_numbers_in_an_upload_are_refused_by_name(attack: Attack, query: str, field: str) -> None:
    answer = attack.device("li-wei").http.put(
        f"/sync/v1/blobs/{'a' * 64}?{query}", content=b"abc", headers={"Accept": "application/json"}
    )
    assert answer.status_code in (400, 413), answer.text[:200]
    assert answer.json()["field"] == field


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes={HUGE}-{HUGE}"])
def test_huge_numbers_in_a_range_are_refused(attack: Attack, header: str) -> None:
    sha = attack.record("drawing", "D-01")["sha256"]
    answer = attack.device("li-wei").http.get(
        f"/sync/v1/blobs/{sha}", headers={"Range": header, "Accept": "application/json"}
    )
    assert answer.status_code in (200, 206, 400, 416), answer.status_code
    if answer.status_code >= 400:
        assert answer.json()["field"] == "range"


@pytest.mark.parametrize(
    "accept",
    [
        "application/json;q=1e999",
        "application/json;q=nan",
        "application/json;q=-1",
        "application/msgpack;q=" + HUGE,
        "*/*;q=inf",
        ";;;q==",
    ],
)
@pytest.mark.parametrize(
    "path, token",
    [("/sync/v1/hello", False), ("/sync/v1/hello", True), ("/api/v1/jobs", True), ("/sync/v1/enroll", False)],
)
def test_any_accept_header_gets_an_answer_not_a_crash(attack: Attack, accept: str, path: str, token: bool) -> None:
    headers = {"Accept": accept, "Content-Type": "application/json"}
    if token:
        who = attack.device("li-wei" if path.startswith("/sync") else "chen-jing")
        headers["Authorization"] = f"Bearer {who.token}"
    method = "GET" if path.startswith("/api") else "POST"
    logged = attack.server.log.stat().st_size
    answer = httpx.request(
        method,
        attack.server.url + path,
        headers=headers,
        content=b'{"protocol_version": 1}' if method == "POST" else None,
    )
    assert answer.status_code < 500, (answer.status_code, answer.text[:200])
    with attack.server.log.open("rb") as log:
        log.seek(logged)
        assert b"Traceback" not in log.read()
