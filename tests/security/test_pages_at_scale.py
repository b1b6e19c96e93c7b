"""Issue 9, low: a page of a big store neither stalls the server nor grows without end.

Templates rendered on the event loop: a job sheet with 25,000 events (17 MB) took 2.5 s and
stalled ``/healthz`` for over a second; the conflict queue had no paging.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from pathlib import Path

from litestar.testing import TestClient

from server.app import create_app
from server.office.i18n import catalogs as office_catalogs

from .attackers import Attack, csrf_of, signed_in


def test_a_long_conflict_queue_is_shown_a_page_at_a_time(attack: Attack) -> None:
    wang = attack.device("wang-fang")
    base = attack.version("site", "S-05")
    answers = wang.push(*[wang.patch("site", "S-05", base, contact_name=f"名字 {i}") for i in range(120)])
    assert sum(1 for a in answers if a["status"] == "conflict") >= 119  # each one made on the same base
    browser = signed_in(attack.server)
    try:
        first = browser.get("/office/conflicts?status=all")
        assert first.status_code == 200 and first.text.count('data-conflict="') == 50
        assert 'rel="next"' in first.text and "page 1 of" in first.text
        pages = int(re.search(r"page 1 of (\d+)", first.text).group(1))  # type: ignore[union-attr]
        last = browser.get(f"/office/conflicts?status=all&page={pages}")
        assert 0 < last.text.count('data-conflict="') <= 50 and 'rel="next"' not in last.text
        assert browser.get("/office/conflicts?status=all&page=0").status_code == 400
        assert browser.get("/office/conflicts?status=all&page=" + "9" * 40).status_code == 400
    finally:
        browser.close()


def test_a_long_job_sheet_is_shown_a_page_at_a_time(attack: Attack) -> None:
    li = attack.device("li-wei")
    job = attack.new_job()
    li.push(*[li.event(job, {"kind": "note", "text": f"reading {i}"}) for i in range(1_200)])
    browser = signed_in(attack.server)
    try:
        sheet = browser.get(f"/office/jobs/{job}")
        assert sheet.status_code == 200 and sheet.text.count('<tr class="event ') == 500
        assert "events 1–500 of 1200" in sheet.text and 'rel="next"' in sheet.text
        last = browser.get(f"/office/jobs/{job}?page=3")
        assert last.text.count('<tr class="event ') == 200
        assert len(attack.office.get(f"/api/v1/jobs/{job}/sheet").json()["events"]) == 1_200  # the API: whole
    finally:
        browser.close()


def test_pages_render_off_the_event_loop(server_template: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> None:
    """While a page renders, the loop answers everyone else: every template filter call happens in
    a thread with no running event loop."""
    template, tokens = server_template
    data = tmp_path / "server"
    shutil.copytree(template, data)
    app = create_app(data)
    seen: list[bool] = []
    filters = office_catalogs().environment("en").filters
    when = filters["when"]

    def spying_when(value: object) -> str:
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        assert threading.current_thread() is not threading.main_thread()
        return str(when(value))

    filters["when"] = spying_when
    try:
        with TestClient(app) as client:
            page = client.get("/office/login")
            token = tokens["chen-jing"][0]
            answer = client.post("/office/login", data={"token": token, "_csrf_token": csrf_of(page.text)})
            assert answer.status_code == 200
            for path in ("/office/board", "/office/jobs/J-0001", "/office/conflicts?status=all"):
                assert client.get(path, headers={"accept-language": "en"}).status_code == 200
    finally:
        filters["when"] = when  # the office's catalogs are built once per process
    assert seen and not any(seen)
