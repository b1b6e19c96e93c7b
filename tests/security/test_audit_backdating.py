"""Issue 9, low: a waiver pushed after the swap but back-dated by its clock stamp does not turn an
audit finding from "missing" into "waived".

The backup audit judged "before" by the laptops' clocks alone; it now also asks the order the
server received the events in, and says when the two disagree.
"""

from __future__ import annotations

import time
import uuid

from sync_protocol import hlc

from .attackers import Attack


def _finding(attack: Attack, job: str) -> dict:
    report = attack.device("zhao-lei").http.get("/api/v1/audit/backups").json()
    [finding] = [f for f in report["findings"] if f["job_id"] == job]
    return finding  # type: ignore[no-any-return]


def _swap() -> dict:
    tag = uuid.uuid4().hex[:8]
    return {
        "kind": "part_swap",
        "equipment_id": "EQ-001",
        "sku": "PSU-750W",
        "serial_out": f"O-{tag}",
        "serial_in": f"I-{tag}",
        "no_backup_ack": True,
    }


WAIVER = {"kind": "backup", "waived": True, "waive_reason": "read-only appliance"}


def test_a_waiver_back_dated_after_the_swap_is_still_missing(attack: Attack) -> None:
    li = attack.device("li-wei")
    job = attack.new_job()
    now = time.time_ns() // 1_000_000
    swap_at, earlier = hlc.encode(now, 0), hlc.encode(now - 3_600_000, 0)
    li.push(li.event(job, _swap(), hlc=swap_at))
    assert _finding(attack, job)["outcome"] == "missing"
    [answer] = li.push(li.event(job, WAIVER, hlc=earlier))  # an hour "before" the swap, sent after it
    assert answer["status"] == "applied"
    finding = _finding(attack, job)
    assert finding["outcome"] == "missing"
    assert "after the repair" in finding["reason"] and "earlier clock" in finding["reason"]


def test_a_waiver_recorded_and_sent_before_the_swap_counts(attack: Attack) -> None:
    li = attack.device("li-wei")
    job = attack.new_job()
    li.push(li.event(job, WAIVER), li.event(job, _swap()))
    finding = _finding(attack, job)
    assert (finding["outcome"], finding["reason"]) == ("waived", "read-only appliance")
