"""The server process helper that the demo, the bench and the tests start servers with never leaves
one running: a second start of a running server used to orphan the first, still serving its port."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from server.process import ServerNotStarted, ServerProcess
from tests.support import zygote
from tests.support.live import LiveServer, run_cli


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


# The harness forks servers and CLI commands from a parent that has imported them already
# (tests/support/zygote.py): what a test relies on is that each is still a process of its own.


@pytest.mark.skipif(not zygote.available(), reason="the harness starts fresh interpreters here")
def test_a_forked_server_is_a_process_of_its_own_that_signals_stop(server_data: Path) -> None:
    server = LiveServer(server_data).start()
    try:
        assert isinstance(server.proc, zygote.Forked)
        pid = server.pid
        assert pid not in (os.getpid(), os.getppid()) and alive(pid)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        server.kill()  # SIGKILL, as the kill campaigns do: nothing of it is left
        assert not alive(pid)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/healthz")
        server.start()  # again on the same port, as a restarted server is
        proc = server.proc
        server.stop()
        # uvicorn's graceful shutdown on SIGTERM, then the signal re-raised: as a fresh interpreter
        assert proc is not None and proc.returncode in (0, -signal.SIGTERM)
    finally:
        server.stop()


@pytest.mark.skipif(not zygote.available(), reason="the harness starts fresh interpreters here")
def test_a_forked_command_has_its_own_environment_output_and_exit_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    status = run_cli("field", "--home", str(home), "status", env={"LANG": "zh_CN.UTF-8"})
    refused = run_cli("field-server", "nosuch", check=False)
    assert refused.returncode == 2 and "invalid choice: 'nosuch'" in refused.stderr and refused.stdout == ""
    assert "等待同步" in status.stdout  # the language of the environment it was given
    assert (home / "field.db").exists() or any(home.iterdir())  # its own working effects
    assert os.environ.get("LANG") != "zh_CN.UTF-8"  # and the test's own environment is untouched


def test_a_port_taken_before_the_first_start_moves_the_server_to_another(server_data: Path, tmp_path: Path) -> None:
    """Workers start servers at once: the free port one picked may be bound by another before
    its server binds it. The first start then takes another port; a restart never moves (its
    laptops know the port)."""
    server = ServerProcess(server_data, log=tmp_path / "server.log")
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with server:
            assert server.port != taken and httpx.get(f"{server.url}/healthz").status_code == 200
            moved = server.port
        with pytest.raises(ServerNotStarted, match="address already in use"):
            ServerProcess(server_data, log=tmp_path / "again.log", port=taken).start()
    with server:
        assert server.port == moved


@pytest.mark.skipif(not zygote.available(), reason="the harness starts fresh interpreters here")
def test_a_lost_zygote_is_replaced_on_the_next_command(tmp_path: Path) -> None:
    """One zygote per worker forks every command: if it dies, the next command starts another
    rather than failing every later test of that worker."""
    first = zygote.zygote()
    first.close()  # as if it had died
    assert not first.alive
    assert run_cli("field", "--home", str(tmp_path / "home"), "status").returncode == 0
    assert zygote.zygote() is not first and zygote.zygote().alive
