"""The README runs as printed: its shell blocks, in order, on the demo data against a real server.

A newcomer copies the README's commands into a shell at the repository root; so does this test,
one command line at a time through bash (the exported environment is carried from line to line,
as in one shell), in a directory holding a copy of ``fixtures/demo/``. Every line must exit 0.
Only what cannot be printed is substituted, and the README says so:

- ``make install && . .venv/bin/activate``: this test runs inside the installed ``.venv``; it is
  activated, not installed again;
- ``8765``: a free loopback port (the server line gets ``--port``, URLs the port);
- ``fs_e_...``: the enrollment token that the last ``field-server user add`` printed.

The first block (``make demo``, ``make test``) is not run here: ``test_demo.py`` runs the demo,
and the suite is ``make test`` itself. A line ending in ``&`` starts a background process, which
this test waits for (``/healthz``) and stops at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from server.blobstore import file_sha256
from server.process import free_port

from tests.support.databases import query, use_database
from tests.support.live import ROOT, wait_until

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
NOT_RUN_HERE = "make demo"  # the first command of the block with tests of its own
TOKEN = re.compile(r"\bfs_e_[A-Za-z0-9_-]{8,}")


def shell_blocks(text: str) -> list[list[str]]:
    """The command lines of each ```sh block, comments and blank lines left out."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    out = []
    for block in blocks:
        lines = [without_comment(line).strip() for line in block.splitlines()]
        out.append([line for line in lines if line])
    return out


def without_comment(line: str) -> str:
    """The line up to a ``#`` that starts a shell comment (outside quotes, after a blank)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def test_the_readme_says_which_blocks_run_and_they_are_runnable() -> None:
    text = README.read_text(encoding="utf-8")
    assert "tests/e2e/test_readme.py" in text
    blocks = shell_blocks(text)
    assert blocks[0][0].startswith(NOT_RUN_HERE) and len(blocks) >= 3
    for line in (line for block in blocks[1:] for line in block):
        assert not line.endswith("\\"), f"one command per line: {line}"


class Shell:
    """Command lines run one at a time by bash, with the environment carried between them."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.state = cwd.parent / "shell.env"
        self.state.write_text("")
        self.background: list[subprocess.Popen[bytes]] = []

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        script = f'source "{self.state}"\n{line}\nstatus=$?\nexport -p > "{self.state}"\nexit $status\n'
        return subprocess.run(
            ["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=120
        )

    def start(self, line: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["bash", "-c", f'source "{self.state}"\nexec {line}'],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        self.background.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture
def shell(tmp_path: Path, fresh_database: str | None) -> Iterator[Shell]:
    """A shell in a copy of ``fixtures/demo/``. On PostgreSQL, ``var/server/config.toml`` names a
    new database before the README's ``field-server init`` (what an operator who runs
    PostgreSQL writes there first, docs/operations.md): every command after it is as printed."""
    work = tmp_path / "fieldsync"
    shutil.copytree(ROOT / "fixtures" / "demo", work / "fixtures" / "demo")
    if fresh_database:
        use_database(work / "var" / "server", fresh_database)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELD_", "VIRTUAL_ENV"))}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "home" / "data"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    shell = Shell(work, env)
    try:
        yield shell
    finally:
        shell.stop()


def test_every_shell_block_of_the_readme_runs_as_printed(shell: Shell, tmp_path: Path) -> None:
    port = free_port()
    token: str | None = None
    ran: list[str] = []
    answers: dict[str, object] = {}  # the dispatcher's API calls, by path and query
    for block in shell_blocks(README.read_text(encoding="utf-8"))[1:]:
        for printed in block:
            line = printed.replace("127.0.0.1:8765", f"127.0.0.1:{port}")
            if line == "make install && . .venv/bin/activate":
                line = f'. "{sys.prefix}/bin/activate"'  # installed already: this very .venv
            if "fs_e_..." in line:
                assert token, f"no enrollment token printed before: {printed}"
                line = line.replace("fs_e_...", token)
            if line.endswith("&"):
                command = line[:-1].strip()
                if command.startswith("field-server serve"):
                    command += f" --port {port}"
                proc = shell.start(command, tmp_path / "background.log")
                assert wait_until(lambda: _answers(port) or proc.poll() is not None, 30), printed
                assert proc.poll() is None, (tmp_path / "background.log").read_text()
                ran.append(printed)
                continue
            done = shell.run(line)
            assert done.returncode == 0, f"{printed}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
            if line.startswith("field-server user add"):
                found = TOKEN.search(done.stdout)
                assert found, done.stdout
                token = found.group(0)
            if line.startswith("curl") and "/api/v1/" in line and done.stdout.strip():  # -o FILE: none
                answers[line.split("/api/v1/", 1)[1].split()[0].strip("\"'")] = json.loads(done.stdout)
            ran.append(printed)

    assert any(line.startswith("field sign") for line in ran) and "field conflicts" in ran
    # The dispatcher's walk: the board's filters answered, and the job taken in.
    urgent = answers["jobs?status=open&severity=1"]
    assert isinstance(urgent, list) and urgent and all(j["severity"] == 1 for j in urgent)
    assert [j["sla_due"] for j in urgent if j["sla_due"]] == sorted(j["sla_due"] for j in urgent if j["sla_due"])
    mine = answers["jobs?engineer=li-wei&q=pudong"]
    assert isinstance(mine, list) and mine and all(j["assignee"] == "u-li-wei" for j in mine)
    made = answers["jobs"]
    assert isinstance(made, dict) and made["name"] == f"{made['number']} ({made['id']})" and made["severity"] == 2
    # What the engineer's day left on the server: the work of J-0001, whole and signed.
    work = shell.cwd
    server = work / "var" / "server"
    job = query(server, "SELECT data FROM records WHERE entity='job' AND id='J-0001'")[0][0]
    kinds = [
        r[0]
        for r in query(
            server,
            "SELECT json_extract(data, '$.payload.kind') FROM records "
            "WHERE entity='event' AND parent='J-0001' ORDER BY id",
        )
    ]
    backup_sha = query(
        server,
        "SELECT json_extract(data, '$.payload.sha256') FROM records WHERE entity='event' "
        "AND json_extract(data, '$.payload.kind')='backup'",
    )[0][0]
    assert '"status":"resolved"' in job and '"signature_state":"valid"' in job
    assert kinds.count("part_swap") == 1 and kinds.count("signature") == 1
    assert backup_sha == file_sha256(work / "fixtures" / "demo" / "r740-system-image.img")
    # The supervisor's walk: the audit as CSV for Excel, and J-0001's finding reviewed, in the chain.
    sheet = (work / "backup-audit.csv").read_bytes()
    assert sheet.startswith(b"\xef\xbb\xbf") and b"J-0001" in sheet and b"verified" in sheet
    reviews = query(server, "SELECT job_id, engineer, comment FROM finding_reviews")
    chained = query(server, "SELECT id FROM audit_log WHERE kind='office.review'")
    assert [tuple(r) for r in reviews] == [("J-0001", "u-li-wei", "image checked on USB-07 with 李伟")]
    assert [r[0] for r in chained] == ["J-0001|u-li-wei"]
    assert ran[-1].startswith("field-server audit verify")
    review = answers["audit/findings/J-0001/li-wei/review"]
    assert isinstance(review, dict) and review["reviewed_by"] == "u-zhao-lei" and review["version"] == 1
    audited = answers["audit/backups?engineer=li-wei"]  # asked again after the review
    assert isinstance(audited, dict)
    [finding] = [f for f in audited["findings"] if f["job_id"] == "J-0001"]
    assert finding["outcome"] == "verified" and finding["review_comment"] == review["comment"]


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
