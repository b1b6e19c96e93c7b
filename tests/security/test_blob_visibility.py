"""Issue 9, hole 5: a device reads a file only through a record in its scope, and a photo or a
signature only if it came from that job's engineers or from the office.

An engineer named another site's drawing hash in a ``photo`` event on his own job, and the
download went from 403 to 200: knowing a hash was enough.
"""

from __future__ import annotations

import hashlib
import os

import httpx

from .attackers import Attack, Device


def upload(device: Device, data: bytes | None = None) -> str:
    data = data or os.urandom(256)
    sha = hashlib.sha256(data).hexdigest()
    answer = device.http.put(
        f"/sync/v1/blobs/{sha}",
        params={"offset": 0, "size": len(data)},
        content=data,
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200 and answer.json()["complete"], answer.text
    return sha


def fetch(device: Device, sha: str) -> httpx.Response:
    return device.http.get(f"/sync/v1/blobs/{sha}", headers={"Accept": "application/json"})


def photo(sha: str) -> dict:
    return {"kind": "photo", "sha256": sha, "caption": "plant room"}


def signature(sha: str) -> dict:
    return {"kind": "signature", "signer": "王建国", "image_sha256": sha, "sheet_hash": "0" * 64}


def test_a_drawing_of_another_site_named_in_a_photo_stays_out_of_reach(attack: Attack) -> None:
    li = attack.device("li-wei")
    other_site = attack.record("drawing", "D-06")  # S-04: Zhang Min's site
    assert fetch(li, other_site["sha256"]).status_code == 403
    [answer] = li.push(li.event(attack.new_job(), photo(other_site["sha256"])))
    assert answer["status"] == "applied"  # the event is his to record...
    refused = fetch(li, other_site["sha256"])  # ...the file is not his to read
    assert (refused.status_code, refused.json()["error"]) == (403, "scope")


def test_another_engineers_signature_named_on_the_own_job_stays_out_of_reach(attack: Attack) -> None:
    li, zhang = attack.device("li-wei"), attack.device("zhang-min")
    theirs = upload(zhang)
    zhang.push(zhang.event(attack.new_job(assignee="zhang-min", site="S-03"), signature(theirs)))
    assert fetch(zhang, theirs).status_code == 200
    li.push(li.event(attack.new_job(), signature(theirs)))
    assert fetch(li, theirs).status_code == 403


def test_an_unreferenced_file_is_read_by_nobody_but_the_office(attack: Attack) -> None:
    li = attack.device("li-wei")
    mine = upload(li)
    assert fetch(li, mine).status_code == 403  # no record in his scope names it
    assert fetch(attack.device("chen-jing"), mine).status_code == 200


def test_the_jobs_engineers_and_the_office_files_are_readable(attack: Attack) -> None:
    li, wang = attack.device("li-wei"), attack.device("wang-fang")
    job = attack.new_job()
    own, office_file = upload(li), upload(attack.device("chen-jing"))
    li.push(li.event(job, photo(own)), li.event(job, photo(office_file)))
    assert fetch(li, own).status_code == 200 and fetch(li, office_file).status_code == 200
    assert fetch(li, attack.record("drawing", "D-01")["sha256"]).status_code == 200  # S-01: his site
    assert fetch(wang, own).status_code == 403
    moved = attack.office.post(f"/api/v1/jobs/{job}/assign", json={"assignee": "wang-fang"})
    assert moved.status_code == 200  # the job is hers now:
    assert fetch(wang, own).status_code == 200  # its photos by its engineers too
    assert fetch(li, own).status_code == 403  # and no longer his
