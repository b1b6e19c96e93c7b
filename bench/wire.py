"""Wire: requests and bytes per record, up and down, from what the other figures sent.

Every figure's laptop talks through ``CountingTransport`` (the real httpx transport with
counters): HTTP/1.1 request and status lines, headers and bodies as sent and received; TCP/IP
framing is not counted (as in the peer's figures). The field client gzip-compresses push bodies
over 1 KiB; pull pages over 1 KiB come back as gzip-compressed JSON (counted as received).
"""

from __future__ import annotations

from typing import Any


def derive(n: int, push: dict[str, Any] | None, pull: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if push:
        out["push_requests_per_1000"] = push["push_requests"] / n * 1000
        out["bytes_up_per_swap"] = push["push_bytes_up"] / n
        out["push_bytes_down_per_swap"] = push["push_bytes_down"] / n
    if pull:
        records = pull["pull_records"]
        out["pull_requests_per_1000"] = pull["pull_requests"] / records * 1000
        out["pull_bytes_down_per_record"] = pull["pull_bytes_down"] / records
        out["pull_bytes_up_per_record"] = pull["pull_bytes_up"] / records
    rates = [v for k, v in out.items() if k.endswith("_requests_per_1000")]
    out["requests_per_1000"] = max(rates) if rates else None
    return out
