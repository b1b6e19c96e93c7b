"""Issue 9, hole 3: push applies the office API's role and ownership rules, not laxer ones.

A supervisor (read-only) rewrote a job's fault, number and assignee through ``/sync/v1/push``,
changed a part's price and resolved another engineer's job; a dispatcher's push set a
non-engineer as assignee. Every path into the store now asks ``server.permissions``.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from server import policy

from .attackers import Attack


def _part_price(attack: Attack, sku: str = "PSU-750W") -> int:
    return int(attack.record("part", sku)["price_cents"])


def test_a_supervisor_writes_nothing_through_push(attack: Attack) -> None:
    zhao = attack.device("zhao-lei")
    job = attack.new_job(assignee="zhang-min", site="S-03")
    before = attack.record("job", job), _part_price(attack)
    version = attack.version("job", job)
    answers = zhao.push(
        zhao.patch("job", job, version, fault="rewritten", number="SR-FAKE-1"),
        zhao.patch("job", job, version, assignee="u-li-wei", assignee_name="Li Wei"),
        zhao.patch("part", "PSU-750W", attack.version("part", "PSU-750W"), price_cents=1),
        zhao.event(job, {"kind": "resolution", "outcome": "resolved"}),
    )
    assert [(a["status"], a.get("reason"), a.get("field")) for a in answers] == [("rejected", "forbidden", "role")] * 4
    assert (attack.record("job", job), _part_price(attack)) == before


def test_a_supervisor_uploads_no_file(attack: Attack) -> None:
    data = b"a supervisor's file"
    sha = hashlib.sha256(data).hexdigest()
    answer = attack.device("zhao-lei").http.put(
        f"/sync/v1/blobs/{sha}",
        params={"offset": 0, "size": len(data)},
        content=data,
        headers={"Accept": "application/json"},
    )
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    assert attack.device("chen-jing").http.get(f"/sync/v1/blobs/{sha}/status").json().get("complete", False) is False


@pytest.mark.parametrize("assignee", ["u-zhao-lei", "u-li-wei"])
def test_assignment_goes_through_the_assign_endpoint_only(attack: Attack, assignee: str) -> None:
    chen = attack.device("chen-jing")
    job = attack.new_job(assignee=None, site="S-02")
    [answer] = chen.push(chen.patch("job", job, attack.version("job", job), assignee=assignee))
    assert (answer["status"], answer.get("reason"), answer.get("field")) == (
        "rejected",
        "forbidden_field",
        "fields.assignee",
    )
    assert "/assign" in answer["message"]
    assert attack.record("job", job).get("assignee") is None
    refused = attack.office.post(f"/api/v1/jobs/{job}/assign", json={"assignee": "zhao-lei"})
    assert (refused.status_code, refused.json()["field"]) == (422, "assignee")  # the endpoint's own rule


@pytest.mark.parametrize(
    "fields",
    [
        {"number": "SR-FAKE-2"},
        {"status": "closed"},
        {"customer_id": "C-02"},
        {"reported_at": "2020-01-01T00:00:00Z"},
        {"respond_by": "2099-01-01T00:00:00Z"},
    ],
)
def test_a_dispatcher_pushes_only_what_the_office_api_lets_them_change(attack: Attack, fields: dict) -> None:
    chen = attack.device("chen-jing")
    job = attack.new_job(site="S-01")
    before = attack.record("job", job)
    [answer] = chen.push(chen.patch("job", job, attack.version("job", job), **fields))
    assert (answer["status"], answer.get("reason")) == ("rejected", "forbidden_field"), answer
    assert answer["field"] == f"fields.{next(iter(fields))}"
    assert attack.record("job", job) == before


def test_a_dispatchers_severity_through_push_gets_the_deadlines_the_office_gives(attack: Attack) -> None:
    chen = attack.device("chen-jing")
    job = attack.new_job(site="S-01")
    [answer] = chen.push(chen.patch("job", job, attack.version("job", job), severity=1, fault="now critical"))
    assert answer["status"] == "applied", answer
    stored = attack.record("job", job)
    expected = policy.deadlines(1, dt.datetime.fromisoformat(stored["reported_at"]))
    assert (stored["severity"], stored["fault"]) == (1, "now critical")
    assert dt.datetime.fromisoformat(stored["respond_by"]) == expected.respond_by
    assert dt.datetime.fromisoformat(stored["onsite_by"]) == expected.onsite_by


def test_office_devices_record_no_job_events_and_move_no_stock(attack: Attack) -> None:
    job = attack.new_job()
    stock = "warehouse:main|PSU-750W"
    qty = attack.record("stock", stock)["qty"]
    for name in ("chen-jing",):
        device = attack.device(name)
        answers = device.push(
            device.event(job, {"kind": "note", "text": "from the office"}),
            device.patch("stock", stock, attack.version("stock", stock), location="warehouse:other"),
        )
        assert [(a["status"], a.get("reason")) for a in answers] == [
            ("rejected", "forbidden"),
            ("rejected", "forbidden_field"),
        ]
    admin = attack.admin
    [answer] = admin.push(admin.event(job, {"kind": "resolution", "outcome": "resolved"}))
    assert (answer["status"], answer.get("reason")) == ("rejected", "forbidden")
    assert attack.record("stock", stock)["qty"] == qty and attack.record("job", job)["status"] == "assigned"
