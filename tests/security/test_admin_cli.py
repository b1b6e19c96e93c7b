"""Issue 9, low: an operator can cut off a person and cancel an enrollment token, from the CLI.

There was no command to disable a user or to cancel an unused enrollment token.
"""

from __future__ import annotations

import json

import httpx

from tests.support.live import cli_json, run_cli

from .attackers import Attack, Device, signed_in


def _cli(attack: Attack, *args: str) -> object:
    return cli_json("field-server", *args, "--data", str(attack.server.data_dir))


def test_a_disabled_user_is_refused_everywhere_at_once(attack: Attack) -> None:
    name = "leaver-disp"
    first = _cli(attack, "user", "add", name, "--role", "dispatcher")["enrollment_token"]  # type: ignore[index]
    spare = _cli(attack, "user", "add", name, "--role", "dispatcher")["enrollment_token"]  # type: ignore[index]
    reply = httpx.post(f"{attack.server.url}/sync/v1/enroll", json={"enrollment_token": first}).json()
    device = Device(attack.server, name, token=reply["device_token"])
    browser = signed_in(attack.server, name, "dispatcher")
    try:
        assert browser.get("/office/board").status_code == 200
        done = _cli(attack, "user", "disable", name)
        assert done == {"user_id": reply["user_id"], "name": name, "disabled": True, "devices_refused": 2}
        assert device.http.post("/sync/v1/hello", json={"protocol_version": 1}).status_code == 401
        assert device.http.get("/api/v1/jobs").status_code == 401
        assert browser.get("/office/board").status_code == 303  # back to sign-in
        assert httpx.post(f"{attack.server.url}/sync/v1/enroll", json={"enrollment_token": spare}).status_code == 401
    finally:
        device.close()
        browser.close()


def test_the_cli_names_what_it_refuses(attack: Attack) -> None:
    missing = run_cli(
        "field-server", "user", "disable", "nobody-at-all", "--data", str(attack.server.data_dir), "--json", check=False
    )
    assert missing.returncode == 1 and json.loads(missing.stderr)["error"] == "not_found"
    admin = run_cli(
        "field-server", "user", "disable", "admin", "--data", str(attack.server.data_dir), "--json", check=False
    )
    assert admin.returncode == 1 and json.loads(admin.stderr)["field"] == "name"


def test_an_unused_enrollment_token_is_revoked_by_token_by_id_or_by_user(attack: Attack) -> None:
    name = "new-engineer"
    tokens = [
        _cli(attack, "user", "add", name, "--role", "engineer")["enrollment_token"]  # type: ignore[index]
        for _ in range(4)
    ]
    listed = _cli(attack, "enrollment", "list", "--user", name)
    assert [e["state"] for e in listed] == ["unused"] * 4  # type: ignore[index,union-attr]
    by_token = _cli(attack, "enrollment", "revoke", tokens[0])
    ids = {
        e["id"]
        for e in _cli(attack, "enrollment", "list", "--user", name)  # type: ignore[union-attr]
        if e["state"] == "unused"
    }  # type: ignore[index]
    by_id = _cli(attack, "enrollment", "revoke", sorted(ids)[0])
    assert len(by_token["revoked"]) == len(by_id["revoked"]) == 1  # type: ignore[index]
    by_user = _cli(attack, "enrollment", "revoke", "--user", name)
    assert len(by_user["revoked"]) == 2  # type: ignore[index]
    for token in tokens:
        answer = httpx.post(f"{attack.server.url}/sync/v1/enroll", json={"enrollment_token": token})
        assert answer.status_code == 401 and "revoked" in answer.json()["message"]
    states = [e["state"] for e in _cli(attack, "enrollment", "list", "--user", name)]  # type: ignore[union-attr,index]
    assert states == ["revoked"] * 4
    used = _cli(attack, "user", "add", name, "--role", "engineer")["enrollment_token"]  # type: ignore[index]
    assert httpx.post(f"{attack.server.url}/sync/v1/enroll", json={"enrollment_token": used}).status_code == 200
    refused = run_cli(
        "field-server", "enrollment", "revoke", used, "--data", str(attack.server.data_dir), "--json", check=False
    )
    assert refused.returncode == 1 and "device revoke" in json.loads(refused.stderr)["message"]
