"""The ``field`` command, run in-process with ``--home``: exit codes and what it prints."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import httpx
import pytest

import field_client.cli as cli
import field_client.terminal as terminal
from field_client import FieldClient
from .laptop_helpers import META, outbox_rows, seed
from sync_protocol import MSGPACK, Checkin, ErrorBody, Note, encode

REAL_FIELD_CLIENT = cli.FieldClient


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's FieldClient with one retry and no backoff, so an unreachable server fails fast."""
    monkeypatch.setattr(cli, "FieldClient", functools.partial(REAL_FIELD_CLIENT, retries=1, backoff=0.0, timeout=5.0))


@pytest.fixture
def seeded_home(home: Path) -> Path:
    with FieldClient(home) as client:
        seed(client)
        client.record_event("J-0001", Checkin(note="arrived"))
        client.record_event("J-0001", Note(text="PSU dead"))
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_status_json_on_a_fresh_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "fresh"
    code, out, err = run(capsys, "--home", str(home), "status", "--json")
    assert code == terminal.EXIT_OK, err
    data = json.loads(out)
    assert data["pending"] == 0 and data["rejected"] == 0 and data["records"] == 0
    assert data["user_id"] is None and data["server_url"] is None
    assert (home / "field.db").is_file()


def test_status_text_after_seeding(seeded_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "--home", str(seeded_home))  # options after the command too
    assert code == terminal.EXIT_OK
    lines = {line[:16].strip(): line[16:].strip() for line in out.splitlines()}  # named in words, not keys
    assert lines["user id"] == META["user_id"]
    assert lines["waiting to sync"] == "2"
    assert lines["last sync"] == "-"


def test_jobs_json_lists_the_laptops_jobs_nearest_deadline_first(
    seeded_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "--home", str(seeded_home), "jobs")
    assert code == terminal.EXIT_OK
    jobs = json.loads(out)
    assert len(jobs) == 12
    deadlines = [j["deadline"]["at"] for j in jobs if j["deadline"]]
    assert deadlines and deadlines == sorted(deadlines)
    assert all(j["deadline"]["what"] in ("respond", "on site") for j in jobs if j["deadline"])


def test_jobs_text_on_an_empty_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--home", str(tmp_path / "h"), "jobs")
    assert code == terminal.EXIT_OK and "no jobs" in out


def test_sync_on_a_never_enrolled_home_says_field_login(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--home", str(tmp_path / "new"), "sync")
    assert code == terminal.EXIT_FAILED
    assert "field login" in err
    assert out == ""


def test_sync_on_a_never_enrolled_home_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--home", str(tmp_path / "new"), "sync", "--json")
    assert code == terminal.EXIT_FAILED
    data = json.loads(out)
    assert data["error"] == "NotLoggedIn" and "field login" in data["message"]


def test_sync_against_an_unreachable_server_exits_3_and_keeps_the_outbox(
    seeded_home: Path, capsys: pytest.CaptureFixture[str], fast_retries: None
) -> None:
    with FieldClient(seeded_home) as client:
        before = outbox_rows(client)
        bodies = client.pending()
    assert len(before) == 2

    code, out, err = run(capsys, "--home", str(seeded_home), "sync")

    assert code == terminal.EXIT_UNREACHABLE
    assert META["server_url"] in err and "kept on this laptop" in err
    with FieldClient(seeded_home) as client:
        assert outbox_rows(client) == before
        assert client.pending() == bodies
        assert client.answers() == []
        assert client.status()["last_sync_at"] is None


def test_sync_unreachable_json(seeded_home: Path, capsys: pytest.CaptureFixture[str], fast_retries: None) -> None:
    code, out, _ = run(capsys, "--home", str(seeded_home), "--json", "sync")
    assert code == terminal.EXIT_UNREACHABLE
    assert json.loads(out)["error"] == "unreachable"


def _with_server(monkeypatch: pytest.MonkeyPatch, handler) -> list[httpx.Request]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    monkeypatch.setattr(
        cli,
        "FieldClient",
        functools.partial(REAL_FIELD_CLIENT, http=httpx.MockTransport(answer), retries=1, backoff=0.0),
    )
    return seen


def _error(status: int, code: str, message: str, field: str | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=encode(ErrorBody(error=code, message=message, field=field)), headers={"Content-Type": MSGPACK}
    )


def test_sync_when_the_client_is_too_old_exits_4(
    seeded_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _with_server(monkeypatch, lambda r: _error(426, "upgrade_required", "upgrade fieldsync", "protocol_version"))
    code, out, err = run(capsys, "--home", str(seeded_home), "sync")
    assert code == terminal.EXIT_UPGRADE
    assert "upgrade fieldsync" in err and "protocol_version" in err
    assert len(seen) == 1
    with FieldClient(seeded_home) as client:
        assert len(outbox_rows(client)) == 2


def test_sync_refused_by_the_server_exits_1_with_the_code(
    seeded_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_server(monkeypatch, lambda r: _error(401, "unauthorized", "device revoked"))
    code, out, _ = run(capsys, "--home", str(seeded_home), "--json", "sync")
    assert code == terminal.EXIT_FAILED
    assert json.loads(out) == {
        "error": "unauthorized",
        "message": "device revoked",
        "field": None,
        "option": None,
        "next": None,
    }


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--home", str(tmp_path / "h"), "frobnicate"])
    assert exc.value.code == terminal.EXIT_USAGE


def test_field_home_chooses_the_store_when_no_home_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIELD_HOME", str(tmp_path / "from-env"))
    code, out, _ = run(capsys, "status", "--json")
    assert code == terminal.EXIT_OK
    assert json.loads(out)["server_reachable"] is None  # not enrolled: nothing to reach
    assert (tmp_path / "from-env" / "field.db").is_file()
