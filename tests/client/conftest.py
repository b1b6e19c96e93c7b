"""Laptop-side fixtures: a FieldClient whose store looks enrolled and pulled, with no server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

import pytest

from field_client import FieldClient

from .laptop_helpers import seed


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def laptop(home: Path) -> Iterator[FieldClient]:
    """A FieldClient(tmp_path/"home") seeded as if enrolled (as li-wei) and fully pulled."""
    client = FieldClient(home)
    seed(client)
    # A day on which EQ-001 (J-0001) is still in warranty, so swaps there are free work; the
    # paid-work rule has its own tests.
    client.today = lambda: dt.date(2025, 1, 10)
    try:
        yield client
    finally:
        try:
            client.close()
        except Exception:  # already closed by a reopen scenario
            pass
