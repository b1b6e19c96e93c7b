"""``make demo`` keeps working: the whole engineer's day, as a newcomer runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.live import ROOT

pytestmark = pytest.mark.slow


def test_the_demo_runs_end_to_end_and_checks_its_own_outcome(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fixtures.demo_run", str(tmp_path / "demo")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAILED" not in proc.stdout
    assert proc.stdout.count("   ok ") == 6
    assert "field --home" in proc.stdout and " ui " in proc.stdout  # how to open the laptop app
    assert "conflict [field] site S-01.contact_phone" in proc.stdout
