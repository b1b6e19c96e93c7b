"""docs/protocol.md is a contract: where it lists what the code defines, the two agree."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from sync_protocol import Limits
from sync_protocol.errors import _BY_CODE, RejectionReason

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(title)
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def test_every_rejection_reason_is_documented_and_no_other() -> None:
    table = _section("Rejection reasons")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    assert documented == set(typing.get_args(RejectionReason))


def test_every_error_code_is_in_the_errors_table() -> None:
    table = _section("## Errors")
    documented = set(re.findall(r"`([a-z0-9_]+)`", " ".join(re.findall(r"^\| \d{3} \|.*$", table, re.M))))
    assert set(_BY_CODE) <= documented


def test_the_documented_default_limits_are_the_codes() -> None:
    limits = Limits()
    for value in (limits.max_body_bytes, limits.max_push_batch, limits.max_pull_page, limits.blob_chunk_bytes):
        assert str(value) in _section("## Hello")
