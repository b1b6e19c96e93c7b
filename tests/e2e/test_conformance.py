"""The conformance kit holds our server to docs/protocol.md, and fails clearly when it does not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from server.process import ServerProcess

from tests.support.live import ROOT, LiveServer


def conformance(url: str, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync_protocol.conformance", url, "--enrollment-token", token],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_our_server_keeps_every_rule(live_server: LiveServer) -> None:
    result = conformance(live_server.url, live_server.enrollment("li-wei"))

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].endswith(" rules hold, 0 broken") and int(lines[-1].split()[0]) >= 20
    assert all(line.startswith("PASS  ") for line in lines[:-1]), result.stdout


class BrokenServer(ServerProcess):
    """Our server with one rule broken on purpose: a push that skips seqs is applied instead of
    being refused with 409 seq_gap (``push.check_contiguous`` does nothing)."""

    def __init__(self, data_dir: Path, script: Path) -> None:
        super().__init__(data_dir)
        self.script = script

    @property
    def command(self) -> list[str]:
        return [sys.executable, str(self.script), str(self.data_dir), str(self.port)]


BREAK_SEQ_GAP = textwrap.dedent("""
    import sys

    import uvicorn

    from server import push
    from server.app import create_app

    push.check_contiguous = lambda *args, **kwargs: None   # the rule broken on purpose
    uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
""")


def test_the_kit_fails_clearly_against_a_server_that_breaks_a_rule(tmp_path: Path, server_data: Path) -> None:
    script = tmp_path / "broken" / "broken_server.py"  # not beside the data dir named "server"
    script.parent.mkdir()
    script.write_text(BREAK_SEQ_GAP)
    token = LiveServer(server_data).enrollment("li-wei")  # the CLI only: nothing is started
    with BrokenServer(server_data, script) as server:
        result = conformance(server.url, token)

    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL  ")]
    assert failed[0] == "FAIL  push: a batch not starting at high_seq + 1 answers 409 seq_gap with detail.expected"
    assert '      expected 409 seq_gap, got 200: {"results":[{"seq":5,"status":"applied"' in result.stdout
    assert result.stdout.splitlines()[-1].endswith(f" rules hold, {len(failed)} broken")
