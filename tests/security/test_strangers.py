"""Issue 9, hole 7: what a request without a token may cost: little memory, a bounded share of
the server, and a limited number of guesses.

``/sync/v1/enroll`` and ``/office/login`` read bodies up to 8 MiB before anyone was
authenticated, with no bound on concurrent requests (150 concurrent bodies: 467 MB to 1.8 GB),
and nothing limited failed attempts. This door has its own server (a small configured bound): the
shared store's tests all come from 127.0.0.1, and a limit reached here would lock them out.
Client addresses are given with ``X-Forwarded-For``, which the server trusts from its loopback
proxy only (``--forwarded-allow-ips``).
"""

from __future__ import annotations

import gzip
import socket
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.live import LiveServer, wait_until

from .attackers import csrf_of, own_server

CONFIG = """
[security]
unauthenticated_concurrency = 4
unauthenticated_timeout_seconds = 2
failures_per_address = 12
failures_per_token_prefix = 4
failure_window_seconds = 3600
"""


@pytest.fixture(scope="module")
def door(
    server_template: tuple[Path, dict[str, list[str]]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with own_server(server_template, tmp_path_factory.mktemp("door"), CONFIG) as server:
        yield server


def enroll(server: LiveServer, token: str, address: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/sync/v1/enroll",
        json={"enrollment_token": token},
        headers={"X-Forwarded-For": address},
        timeout=20,
    )


def guess() -> str:
    return "fs_e_" + uuid.uuid4().hex


def raw_request(server: LiveServer, path: str, declared: int, sent: bytes) -> socket.socket:
    """A POST that declares ``declared`` body bytes and sends only ``sent`` (then waits)."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    conn.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Forwarded-For: 10.9.9.9\r\nContent-Length: {declared}\r\n\r\n".encode()
        + sent
    )
    return conn


def status_of(conn: socket.socket) -> int:
    head = conn.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1])


def test_a_big_body_without_a_token_is_refused_before_it_is_read(door: LiveServer) -> None:
    big = b'{"enrollment_token": "' + b"x" * (1024 * 1024) + b'"}'
    answer = httpx.post(f"{door.url}/sync/v1/enroll", content=big, headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")
    bomb = gzip.compress(b'{"enrollment_token": "' + b"x" * (1024 * 1024) + b'"}')
    assert len(bomb) < 4096
    answer = httpx.post(
        f"{door.url}/sync/v1/enroll",
        content=bomb,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert (answer.status_code, answer.json()["field"]) == (413, "body")
    # 8 MiB declared, 8 KiB sent: the answer comes without the rest (nothing waits to buffer it).
    conn = raw_request(door, "/sync/v1/enroll", 8 * 1024 * 1024, b"x" * 8192)
    try:
        assert status_of(conn) == 413
    finally:
        conn.close()
    browser = httpx.Client(base_url=door.url)
    try:
        token = csrf_of(browser.get("/office/login").text)
        answer = browser.post("/office/login", data={"token": "x" * (1024 * 1024), "_csrf_token": token})
        assert answer.status_code == 413
    finally:
        browser.close()


def test_strangers_at_once_are_bounded_and_slow_ones_cut_off(door: LiveServer) -> None:
    waiting = [raw_request(door, "/sync/v1/enroll", 100, b'{"enrollment_token"') for _ in range(4)]
    try:
        busy: list[httpx.Response] = []
        assert wait_until(lambda: busy.append(enroll(door, guess(), "10.1.0.1")) or busy[-1].status_code == 429)
        assert busy[-1].json()["error"] == "rate_limited" and busy[-1].headers["retry-after"] == "1"
        assert [status_of(conn) for conn in waiting] == [408] * 4  # no body in time: the slots free up
    finally:
        for conn in waiting:
            conn.close()
    assert enroll(door, guess(), "10.1.0.2").status_code == 401


def test_failures_are_limited_per_address(door: LiveServer) -> None:
    address = "10.2.0.1"
    for _ in range(12):
        assert enroll(door, guess(), address).status_code == 401
    limited = enroll(door, guess(), address)
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
    assert int(limited.headers["retry-after"]) > 0
    right = door.enrollment("li-wei")
    assert enroll(door, right, address).status_code == 429  # the right token too: nothing learnt
    browser = httpx.Client(base_url=door.url, headers={"X-Forwarded-For": address})
    try:
        page = browser.post(
            "/office/login", data={"token": guess(), "_csrf_token": csrf_of(browser.get("/office/login").text)}
        )
        assert page.status_code == 429 and "retry-after" in page.headers  # one count for both doors
    finally:
        browser.close()
    assert enroll(door, right, "10.2.0.2").status_code == 200  # elsewhere it works


def test_failures_are_limited_per_token_prefix(door: LiveServer) -> None:
    prefix = "fs_e_" + uuid.uuid4().hex[:11]  # the first 16 characters
    for n in range(4):
        assert enroll(door, prefix + uuid.uuid4().hex, f"10.3.0.{n}").status_code == 401
    limited = enroll(door, prefix + uuid.uuid4().hex, "10.3.1.1")
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
    assert enroll(door, guess(), "10.3.1.1").status_code == 401  # another prefix, same address
