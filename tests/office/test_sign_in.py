"""Sign-in: tokens become HttpOnly SameSite sessions; engineers and forged forms get nothing."""

from __future__ import annotations

import httpx

from server import auth

from .conftest import csrf_of, sign_in


def _session_cookie(response: httpx.Response) -> str:
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("fieldsync_session=")]
    assert len(cookies) == 1, response.headers.get_list("set-cookie")
    return cookies[0]


def test_a_dispatcher_token_opens_an_httponly_samesite_session(client, tokens) -> None:
    answer = sign_in(client, tokens["chen-jing"])

    assert answer.status_code == 303 and answer.headers["location"] == "/office/board"
    cookie = _session_cookie(answer).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    board = client.get("/office/board")
    assert board.status_code == 200 and "Chen Jing" in board.text and "SR-2026-0001" in board.text


def test_a_supervisor_lands_on_the_audit(client, tokens) -> None:
    answer = sign_in(client, tokens["zhao-lei"])
    assert answer.headers["location"] == "/office/audit"


def test_an_engineer_token_opens_no_page(client, tokens) -> None:
    answer = sign_in(client, tokens["li-wei"])

    assert answer.status_code == 403 and "field client" in answer.text
    assert not [c for c in answer.headers.get_list("set-cookie") if c.startswith("fieldsync_session=")]
    assert client.get("/office/board", follow_redirects=False).status_code == 303  # back to sign-in


def test_a_wrong_token_is_refused(client) -> None:
    answer = sign_in(client, "fs_d_not-a-token")
    assert answer.status_code == 401 and "unknown token" in answer.text


def test_an_enrollment_token_enrolls_the_browser_and_shows_its_device_token_once(client, app) -> None:
    state = app.state.fieldsync
    enrollment = state.db.write(lambda c: auth.create_enrollment(c, auth.find_user(c, "chen-jing")["id"]))

    answer = sign_in(client, enrollment)

    assert answer.status_code == 200 and 'id="device-token"' in answer.text
    device_token = answer.text.split('id="device-token">')[1].split("<")[0]
    assert device_token.startswith(auth.DEVICE_TOKEN_PREFIX)
    assert client.get("/office/board").status_code == 200
    # The enrollment token is spent; the device token shown signs in next time.
    assert sign_in(client, enrollment).status_code == 401
    assert sign_in(client, device_token).status_code == 303


def test_an_engineers_enrollment_token_is_refused_without_being_spent(client, app) -> None:
    state = app.state.fieldsync
    enrollment = state.db.write(lambda c: auth.create_enrollment(c, auth.find_user(c, "li-wei")["id"]))

    assert sign_in(client, enrollment).status_code == 403

    reply = client.post("/sync/v1/enroll", json={"enrollment_token": enrollment, "device_name": "laptop"})
    assert reply.status_code == 200 and reply.json()["role"] == "engineer"


def test_a_form_without_the_csrf_token_is_refused(client, tokens) -> None:
    client.get("/office/login")
    forged = client.post("/office/login", data={"token": tokens["chen-jing"]}, follow_redirects=False)
    assert forged.status_code == 403 and "expired" in forged.text

    sign_in(client, tokens["chen-jing"])
    forged = client.post("/office/jobs/J-0001/cancel", data={}, follow_redirects=False)
    assert forged.status_code == 403
    assert client.get("/api/v1/jobs/J-0001").json()["status"] == "assigned"  # nothing happened


def test_signing_in_gives_a_fresh_session_id(client, tokens) -> None:
    client.cookies.set("fieldsync_session", "planted-by-someone-else", domain="testserver.local")
    answer = sign_in(client, tokens["chen-jing"])
    assert "planted-by-someone-else" not in _session_cookie(answer)


def test_revoking_the_device_ends_its_session(client, app, tokens) -> None:
    sign_in(client, tokens["chen-jing"])
    state = app.state.fieldsync
    device = state.db.read(lambda c: auth.authenticate(c, f"Bearer {tokens['chen-jing']}").device_id)
    state.db.write(lambda c: auth.revoke_device(c, device))

    answer = client.get("/office/board", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/office/login")


def test_sign_out_ends_the_session(client, tokens) -> None:
    sign_in(client, tokens["chen-jing"])
    page = client.get("/office/board")
    answer = client.post("/office/logout", data={"_csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/office/board", follow_redirects=False).status_code == 303


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client, tokens) -> None:
    assert sign_in(client, tokens["chen-jing"], "/office/conflicts").headers["location"] == "/office/conflicts"
    assert sign_in(client, tokens["chen-jing"], "//evil.example/x").headers["location"] == "/office/board"


def test_pages_for_dispatchers_refuse_a_supervisor(client, tokens) -> None:
    sign_in(client, tokens["zhao-lei"])
    assert client.get("/office/jobs/new").status_code == 403
    assert client.get("/office/audit").status_code == 200
    assert client.get("/office/jobs/J-0001").status_code == 200  # reading a sheet is fine


def test_anonymous_visits_leave_no_session_behind(client, data_dir) -> None:
    client.get("/office/login")
    client.get("/api/v1/jobs")
    sessions = data_dir / "office-sessions"
    assert not sessions.exists() or not any(sessions.iterdir())
