"""The server process helper that the demo, the bench and the tests start servers with never leaves
one running: a second start of a running server used to orphan the first, still serving its port."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.process import ServerProcess


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_started_server_used_as_a_context_stops_on_the_way_out(server_data: Path, tmp_path: Path) -> None:
    server = ServerProcess(server_data, log=tmp_path / "server.log").start()
    pid = server.pid
    with server as running:  # what fixtures/demo_run.py does
        assert running is server and running.pid == pid
    assert not alive(pid)


def test_starting_a_running_server_again_is_refused(server_data: Path, tmp_path: Path) -> None:
    with ServerProcess(server_data, log=tmp_path / "server.log") as server:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
