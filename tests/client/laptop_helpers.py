"""Helpers shared by the laptop-side tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from field_client import FieldClient
from field_client import replica
from field_client.store import set_meta
from sync_protocol import Record

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "fixtures" / "demo" / "data.json"
SIGNATURE_PNG = ROOT / "fixtures" / "demo" / "signature.png"

UNREACHABLE_URL = "http://127.0.0.1:9"
USER_ID = "u-li-wei"
DEVICE_ID = "dev-test-laptop"

META = {
    "server_url": UNREACHABLE_URL,
    "device_token": "fs_d_test-device-token",
    "device_id": DEVICE_ID,
    "user_id": USER_ID,
    "user_name": "Li Wei (李伟)",
    "role": "engineer",
}

# The server version every seeded record is held at (an edit names it as base_version).
SEED_VERSION = 7


def demo_records() -> list[Record]:
    data = json.loads(DEMO_DATA.read_text(encoding="utf-8"))
    return msgspec.convert(data["records"], list[Record])  # type: ignore[arg-type]


def seed(client: FieldClient, meta: dict[str, str] | None = None) -> None:
    """Write what a login plus a full pull would have left in the laptop store."""
    records = demo_records()

    def work(conn) -> None:  # type: ignore[no-untyped-def]
        for key, value in (meta or META).items():
            set_meta(conn, key, value)
        for record in records:
            replica.put(conn, record, SEED_VERSION)

    client.store.write(work)


def outbox_rows(client: FieldClient) -> list[dict]:
    return client.store.read(
        lambda c: [
            dict(r) for r in c.execute("SELECT seq, op, entity, record_id, job_id, hlc FROM outbox ORDER BY seq")
        ]
    )


def answer_rows(client: FieldClient) -> list[dict]:
    return client.store.read(lambda c: [dict(r) for r in c.execute("SELECT * FROM answers ORDER BY seq")])
