"""An office session works on whichever server process the next request reaches: on PostgreSQL
the sessions live in the database, on SQLite in the data directory's file store; two apps over
one store stand in for two processes behind a load balancer."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient

from server.app import create_app
from tests.office.conftest import sign_in


def test_a_session_made_on_one_process_works_on_another(client, tokens, data_dir: Path) -> None:
    assert sign_in(client, tokens["chen-jing"]).status_code in (302, 303)
    assert client.get("/office/board", follow_redirects=False).status_code == 200
    with TestClient(create_app(data_dir), base_url="http://testserver.local") as other:
        other.cookies = client.cookies
        assert other.get("/office/board", follow_redirects=False).status_code == 200
        other.cookies.clear()
        assert other.get("/office/board", follow_redirects=False).status_code in (302, 303, 401)
