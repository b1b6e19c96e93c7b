"""The floor: the same part swaps, decoded with msgspec and inserted with one ``executemany``
into one SQLite table in one transaction. Nothing a push does can be cheaper on this machine.

The input is what the laptop sends: ``PushRequest`` bodies in MessagePack, 5,000 mutations each,
decoded into the protocol's own Structs (so validation is included, as on the server). The
table is written with the server's pragmas (WAL, ``synchronous`` as the server runs).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

import msgspec

from sync_protocol import MAX_PUSH_BATCH, AppendEvent, JobEvent, PushRequest, uuid7

from .common import ENGINEER_ID, Settings, median, say

from .datasets import World, part_swap

_DEVICE = "0193f1c2-0000-7000-8000-00000000beef"


def push_bodies(n: int, world: World) -> list[bytes]:
    """``n`` part swaps as the MessagePack ``PushRequest`` bodies a laptop would send."""
    from sync_protocol.hlc import encode as hlc

    encoder = msgspec.msgpack.Encoder()
    now = dt.datetime.now(dt.timezone.utc)
    base = int(now.timestamp() * 1000)
    bodies, batch = [], []
    for i in range(n):
        job = world.jobs[i % len(world.jobs)]
        stamp = hlc(base + i // 1000, i % 1000)
        batch.append(
            AppendEvent(
                seq=i + 1,
                hlc=stamp,
                event=JobEvent(
                    id=uuid7(),
                    job_id=job,
                    author=ENGINEER_ID,
                    device_id=_DEVICE,
                    hlc=stamp,
                    at=now,
                    payload=part_swap(i, job, world.job_equipment[job], world.skus[i % min(50, len(world.skus))]),
                ),
            )
        )
        if len(batch) == MAX_PUSH_BATCH:
            bodies.append(encoder.encode(PushRequest(mutations=batch)))
            batch = []
    if batch:
        bodies.append(encoder.encode(PushRequest(mutations=batch)))
    return bodies


def once(path: Path, bodies: list[bytes], durable: bool) -> float:
    """Seconds to decode every body and insert every record in one transaction."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    conn.execute(
        "CREATE TABLE swaps (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, sku TEXT NOT NULL, "
        "serial_in TEXT NOT NULL, serial_out TEXT NOT NULL, qty INTEGER NOT NULL, "
        "engineer TEXT NOT NULL, at TEXT NOT NULL, notes TEXT NOT NULL) WITHOUT ROWID"
    )
    decoder = msgspec.msgpack.Decoder(PushRequest)
    t0 = time.perf_counter()
    rows: list[tuple[Any, ...]] = []
    for body in bodies:
        for m in decoder.decode(body).mutations:
            e = m.event  # type: ignore[union-attr]
            p = e.payload
            rows.append((e.id, e.job_id, p.sku, p.serial_in, p.serial_out, p.qty, e.author, e.at.isoformat(), p.notes))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO swaps VALUES (?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    count = conn.execute("SELECT count(*) FROM swaps").fetchone()[0]
    conn.close()
    assert count == len(rows), (count, len(rows))
    return elapsed


def run(settings: Settings, world: World, work: Path) -> dict[str, Any]:
    say(f"floor: {settings.push_n} records, {settings.runs} runs")
    bodies = push_bodies(settings.push_n, world)
    work.mkdir(parents=True, exist_ok=True)
    times = [once(work / "floor.db", bodies, settings.durable) for _ in range(max(3, settings.runs))]
    t = median(times)
    return {
        "floor_s": t,
        "floor_push_per_s": settings.push_n / t,
        "floor_samples_s": times,
        "floor_body_bytes": sum(len(b) for b in bodies),
    }
