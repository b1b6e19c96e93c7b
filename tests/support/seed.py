"""A small world of records (two customers, their sites, equipment, parts, van stock, jobs) that
the in-process server tests and the convergence properties start from."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sync_protocol import Customer, Equipment, Job, Part, Site, Stock

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.timezone.utc)


def seed_records() -> list[Any]:
    return [
        Customer(id="C-01", name="上海浦东数据中心有限公司"),
        Customer(id="C-02", name="Harbour Logistics"),
        Site(
            id="S-01", customer_id="C-01", name="浦东机房", contact_phone="+86 21 5555 0100", access_notes="门卫处登记"
        ),
        Site(id="S-02", customer_id="C-02", name="Dock 4", contact_phone="+44 20 0000 0000"),
        Equipment(id="EQ-1", site_id="S-01", model="PowerEdge R740", serial="SN-R740-1"),
        Equipment(id="EQ-2", site_id="S-01", model="Catalyst 9300", serial="SN-C9300-1"),
        Equipment(id="EQ-3", site_id="S-02", model="NVR-64", serial="SN-NVR-1"),
        Part(id="PSU-750W", name="Power supply 750 W", price_cents=89000),
        Part(id="FAN-80MM", name="Fan 80 mm", wear_part=True, price_cents=12000),
        Stock(id="van:u-li-wei|PSU-750W", location="van:u-li-wei", sku="PSU-750W", qty=1),
        Stock(id="van:u-zhang-min|PSU-750W", location="van:u-zhang-min", sku="PSU-750W", qty=3),
        Job(
            id="J-1",
            number="SR-1",
            customer_id="C-01",
            site_id="S-01",
            equipment_ids=["EQ-1"],
            severity=1,
            reported_at=NOW,
            status="assigned",
            assignee="u-li-wei",
            fault="PSU alarm",
        ),
        Job(
            id="J-2",
            number="SR-2",
            customer_id="C-02",
            site_id="S-02",
            equipment_ids=["EQ-3"],
            severity=3,
            reported_at=NOW,
            status="assigned",
            assignee="u-zhang-min",
            fault="NVR down",
        ),
        Job(id="J-3", number="SR-3", customer_id="C-01", site_id="S-01", severity=2, reported_at=NOW, status="new"),
    ]
