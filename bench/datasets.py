"""The data sets of the figures, made the way an operator would make them: a
``fieldsync-fixtures/1`` file loaded with ``field-server load-fixtures`` (users, customers,
sites, equipment, parts, stock, jobs, drawings), plus, for bulk record counts,
``server.storage.records.put_many`` on the closed store before the server starts. Enrollment
tokens come from ``server.auth`` the same way ``field-server user add`` makes them. Also: stores
copied between runs, and laptops' outboxes filled fast. Nothing here reaches into a running server.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from sync_protocol import (
    AppendEvent,
    Backup,
    Checkin,
    Customer,
    Drawing,
    Equipment,
    Job,
    JobEvent,
    Part,
    PartSwap,
    Site,
    Stock,
    stock_id,
    uuid7,
    van,
)

from .common import DISPATCHER, DISPATCHER_ID, ENGINEER, ENGINEER_ID, cli

_T0 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.timezone.utc)


def _enc(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


@dataclass
class World:
    """An engineer's world: ids that data generators and checks need."""

    jobs: list[str] = field(default_factory=list)
    job_equipment: dict[str, str] = field(default_factory=dict)
    skus: list[str] = field(default_factory=list)
    drawings: int = 0
    drawing_bytes: int = 0
    records: int = 0


def world_fixture(
    directory: Path,
    *,
    jobs: int,
    sites: int,
    equipment: int,
    parts: int,
    customers: int = 20,
    drawings: int = 0,
    drawing_total_bytes: int = 0,
    engineers: list[tuple[str, str]] | None = None,
    seed: int = 7,
) -> tuple[Path, World]:
    """Write a ``fieldsync-fixtures/1`` file (and its drawing files) for one engineer's world.

    ``engineers`` is a list of (user id, login name); jobs are dealt to them round robin, all
    ``on_site`` with a verified backup event, so part swaps are accepted on both sides.
    Van stock is ample (no stock conflicts: the figure is throughput, not deficits).
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    engineers = engineers or [(ENGINEER_ID, ENGINEER)]
    users = [{"id": uid, "name": name, "display_name": f"Bench {name}", "role": "engineer"} for uid, name in engineers]
    users.append({"id": DISPATCHER_ID, "name": DISPATCHER, "display_name": "Bench dispatcher", "role": "dispatcher"})
    records: list[Any] = []
    world = World()
    sites = max(1, min(sites, jobs if jobs else sites))
    customers = max(1, min(customers, sites))
    for c in range(customers):
        records.append(
            Customer(
                id=f"C-{c:03d}",
                name=f"Customer {c} 客户",
                address=f"{c} Zhangjiang Road, Shanghai",
                phone="+86 21 5080 1188",
            )
        )
    for s in range(sites):
        records.append(
            Site(
                id=f"S-{s:03d}",
                customer_id=f"C-{s % customers:03d}",
                name=f"Site {s} 机房",
                address=f"Building {s}, 1888 Zhangjiang Road",
                contact_name="刘洋 Liu Yang",
                contact_phone="+86 138 0210 1001",
                access_notes="badge from facility office",
                subsystems=["computing", "network", "power"],
            )
        )
    equipment = max(equipment, sites)
    site_equipment: dict[int, list[str]] = {}
    for e in range(equipment):
        s = e % sites
        eid = f"EQ-{e:05d}"
        site_equipment.setdefault(s, []).append(eid)
        records.append(
            Equipment(
                id=eid,
                site_id=f"S-{s:03d}",
                category="server",
                manufacturer="Dell",
                model="PowerEdge R740",
                serial=f"DEL{e:011d}",
                location=f"Rack A{e % 40} U{e % 42}",
                subsystem="computing",
                firmware="1.0.0",
                install_date=dt.date(2024, 6, 15),
                warranty_end=dt.date(2030, 12, 31),
                parameters={"ip": f"10.{s % 250}.{e % 250}.10", "raid": "RAID 5"},
            )
        )
    for p in range(parts):
        sku = f"SKU-{p:05d}"
        world.skus.append(sku)
        records.append(Part(id=sku, name=f"Part {p} 备件", price_cents=1000 + p, warranty_days=365))
    for uid, _ in engineers:
        for sku in world.skus[:50]:
            records.append(Stock(id=stock_id(van(uid), sku), location=van(uid), sku=sku, qty=10**9))
    drawing_files = []
    if drawings:
        ddir = directory / "drawings"
        ddir.mkdir(exist_ok=True)
        each = max(1, drawing_total_bytes // drawings)
        import hashlib

        for d in range(drawings):
            data = rng.randbytes(each)
            path = ddir / f"D-{d:03d}.pdf"
            path.write_bytes(data)
            sha = hashlib.sha256(data).hexdigest()
            drawing_files.append({"sha256": sha, "path": f"drawings/{path.name}", "media_type": "application/pdf"})
            records.append(
                Drawing(
                    id=f"D-{d:03d}",
                    site_id=f"S-{d % sites:03d}",
                    title=f"Drawing {d}",
                    kind="network",
                    filename=path.name,
                    media_type="application/pdf",
                    sha256=sha,
                    size=len(data),
                )
            )
            world.drawing_bytes += len(data)
        world.drawings = drawings
    backup_sha = "0" * 64
    for j in range(jobs):
        s = j % sites
        uid, name = engineers[j % len(engineers)]
        jid = f"J-{j:05d}"
        eq = site_equipment[s][(j // sites) % len(site_equipment[s])]
        world.jobs.append(jid)
        world.job_equipment[jid] = eq
        records.append(
            Job(
                id=jid,
                number=f"SR-2026-{j:05d}",
                customer_id=f"C-{s % customers:03d}",
                site_id=f"S-{s:03d}",
                equipment_ids=[eq],
                fault="server down, amber PSU LED",
                severity=1 + j % 4,
                reported_by="刘洋 Liu Yang",
                reported_at=_T0,
                status="on_site",
                assignee=uid,
                assignee_name=f"Bench {name}",
                warranty="out",
            )
        )
        at = _T0 + dt.timedelta(minutes=5)
        records.append(
            JobEvent(
                id=f"ev-checkin-{j:05d}",
                job_id=jid,
                author=uid,
                device_id="seed",
                hlc="0193f1c2a4b00000",
                at=at,
                payload=Checkin(note="on site"),
            )
        )
        records.append(
            JobEvent(
                id=f"ev-backup-{j:05d}",
                job_id=jid,
                author=uid,
                device_id="seed",
                hlc="0193f1c2a4b00001",
                at=at,
                payload=Backup(
                    scope="system", method="image", stored_at="NAS", size=1, sha256=backup_sha, verified=True
                ),
            )
        )
    world.records = len(records)
    path = directory / "data.json"
    path.write_bytes(
        msgspec.json.encode(
            {
                "format": "fieldsync-fixtures/1",
                "users": users,
                "records": [_enc(r) for r in records],
                "blobs": drawing_files,
            }
        )
    )
    return path, world


_WORDS = (
    "replaced",
    "fan",
    "psu",
    "failed",
    "amber",
    "led",
    "customer",
    "informed",
    "old",
    "part",
    "bagged",
    "rma",
    "tested",
    "ok",
    "rack",
    "cable",
    "reseated",
    "firmware",
    "checked",
    "noisy",
    "bearing",
    "warranty",
    "spare",
    "van",
    "left",
    "on",
    "site",
    "logs",
    "attached",
    "power",
)


def notes(i: int) -> str:
    """80 characters of varied, word-like text (deterministic per record, like the peer's)."""
    rng = random.Random(i)
    text = ""
    while len(text) < 80:
        text += rng.choice(_WORDS) + " "
    return text[:80]


def part_swap(i: int, job_id: str, equipment_id: str, sku: str) -> PartSwap:
    return PartSwap(
        equipment_id=equipment_id, sku=sku, serial_out=f"OUT-{i:09d}", serial_in=f"IN-{i:09d}", qty=1, notes=notes(i)
    )


def seed_events(data_dir: Path, world: World, n: int, author: str = ENGINEER_ID) -> None:
    """Put ``n`` part-swap events on the engineer's jobs straight into a closed server store
    (``server.storage.records.put_many``), as if pushed earlier: the data set for pull figures."""
    from sync_protocol.hlc import encode as hlc

    from .database import open_store

    db = open_store(data_dir)
    try:
        base_ms = int(_T0.timestamp() * 1000) + 3_600_000
        rng = random.Random(11)
        chunk = 20_000
        from server.storage import records as store

        for start in range(0, n, chunk):
            batch = []
            for i in range(start, min(n, start + chunk)):
                job = world.jobs[i % len(world.jobs)]
                ms = base_ms + i
                batch.append(
                    JobEvent(
                        id=uuid7(ms=ms, rand=rng.randbytes(10)),
                        job_id=job,
                        author=author,
                        device_id="0193f1c2-0000-7000-8000-000000000001",
                        hlc=hlc(ms, 0),
                        at=dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc),
                        payload=part_swap(i, job, world.job_equipment[job], world.skus[i % min(50, len(world.skus))]),
                    )
                )
            db.write(lambda c, b=batch: store.put_many(c, b))
    finally:
        db.close()


def enrollment_tokens(data_dir: Path, user_id: str, count: int) -> list[str]:
    """One-time enrollment tokens for an existing user (what ``field-server user add`` prints)."""
    from server import auth

    from .database import open_store

    db = open_store(data_dir)
    try:
        return db.write(lambda c: [auth.create_enrollment(c, user_id) for _ in range(count)])  # type: ignore[no-any-return]
    finally:
        db.close()


def many_enrollment_tokens(data_dir: Path, user_ids: list[str]) -> list[str]:
    from server import auth

    from .database import open_store

    db = open_store(data_dir)
    try:
        return db.write(lambda c: [auth.create_enrollment(c, uid) for uid in user_ids])  # type: ignore[no-any-return]
    finally:
        db.close()


def init_store(data_dir: Path, fixture: Path) -> dict[str, Any]:
    """``field-server init`` and ``field-server load-fixtures``, as an operator would (on the
    run's backend: ``bench/database.py``)."""
    from .database import prepare

    prepare(data_dir)
    cli("init", "--data", str(data_dir))
    return cli("load-fixtures", "--data", str(data_dir), str(fixture))  # type: ignore[no-any-return]


def checkpoint(db_file: Path) -> None:
    """Fold the WAL into the main file so a store can be copied as one file."""
    import sqlite3

    if db_file.exists():
        conn = sqlite3.connect(str(db_file))
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def snapshot_store(src: Path, dst: Path) -> Path:
    """Copy a server data directory whose server is running: files as they are, the store in
    one consistent snapshot (``bench/database.py``)."""
    from .database import copy_data

    return copy_data(src, dst, live=True)


def copy_server(src: Path, dst: Path) -> Path:
    """Copy a server data directory whose server is stopped, store included."""
    from .database import copy_data

    return copy_data(src, dst)


def copy_tree(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def record_events_fast(client: Any, world: World, count: int, start: int = 0, per_tx: int = 10_000) -> None:
    """Record ``count`` part swaps into a laptop's outbox through ``field_client.outbox.append``
    (the function ``FieldClient.record_event`` ends in), ``per_tx`` per local transaction.

    ``record_event`` itself also re-reads all events of the job for the backup rule, which
    at 100,000 events on 200 jobs makes recording quadratic; recording is not what the push
    figure measures, so the outbox is filled this way.
    """
    from field_client import outbox
    from field_client.store import get_meta

    def work(conn: Any, lo: int, hi: int) -> None:
        user, device = get_meta(conn, "user_id"), get_meta(conn, "device_id")
        now = dt.datetime.now(dt.timezone.utc)
        for i in range(lo, hi):
            job = world.jobs[i % len(world.jobs)]
            payload = part_swap(i, job, world.job_equipment[job], world.skus[i % min(50, len(world.skus))])
            outbox.append(
                conn,
                lambda seq, hlc, job=job, payload=payload: AppendEvent(
                    seq=seq,
                    hlc=hlc,
                    event=JobEvent(
                        id=uuid7(), job_id=job, author=user, device_id=device, hlc=hlc, at=now, payload=payload
                    ),
                ),
            )

    for lo in range(start, start + count, per_tx):
        hi = min(start + count, lo + per_tx)
        client.store.write(lambda c, lo=lo, hi=hi: work(c, lo, hi))
