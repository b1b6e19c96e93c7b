"""Issue 9, hole 2: an engineer takes parts from their own van, and from nowhere else.

``part_swap.location`` was not checked: an engineer booked parts out of another engineer's van
and out of ``warehouse:main``, and made up a location that went to -1.
"""

from __future__ import annotations

import uuid

import pytest

from .attackers import Attack


def _swap(location: str | None) -> dict:
    tag = uuid.uuid4().hex[:8]
    payload = {
        "kind": "part_swap",
        "equipment_id": "EQ-001",
        "sku": "PSU-750W",
        "serial_out": f"O-{tag}",
        "serial_in": f"I-{tag}",
        "no_backup_ack": True,
    }
    return payload if location is None else {**payload, "location": location}


@pytest.mark.parametrize("location", ["van:u-zhang-min", "warehouse:main", "van:nobody", "site:S-01"])
def test_parts_from_anywhere_but_the_own_van_are_refused(attack: Attack, location: str) -> None:
    li = attack.device("li-wei")
    job = attack.new_job()
    stock_id = f"{location}|PSU-750W"
    before = attack.record("stock", stock_id)["qty"] if attack.has("stock", stock_id) else None
    mutation = li.event(job, _swap(location))
    [answer] = li.push(mutation)
    assert (answer["status"], answer.get("reason"), answer.get("field")) == (
        "rejected",
        "scope",
        "event.payload.location",
    )
    assert "van:u-li-wei" in answer["message"]
    after = attack.record("stock", stock_id)["qty"] if attack.has("stock", stock_id) else None
    assert after == before and not attack.has("event", mutation["event"]["id"])


@pytest.mark.parametrize("location", [None, "van:u-li-wei"])
def test_the_own_van_is_where_parts_come_from(attack: Attack, location: str | None) -> None:
    li = attack.device("li-wei")
    before = attack.record("stock", "van:u-li-wei|PSU-750W")["qty"]
    [answer] = li.push(li.event(attack.new_job(), _swap(location)))
    assert answer["status"] in ("applied", "conflict"), answer
    assert attack.record("stock", "van:u-li-wei|PSU-750W")["qty"] == before - 1


def test_the_laptop_refuses_it_when_the_swap_is_recorded(attack: Attack, laptop) -> None:
    from field_client import InvalidAction, Workbench

    job = attack.new_job()
    li = laptop("li-wei")
    li.sync()
    bench = Workbench(li)
    bench.waive_backup(job, "read-only appliance")
    with pytest.raises(InvalidAction) as refused:
        bench.swap(
            job, equipment="EQ-001", part="PSU-750W", serial_out="A-1", serial_in="B-1", location="warehouse:main"
        )
    assert refused.value.field == "location" and not li.pending()[1:]
