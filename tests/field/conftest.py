"""The engineer's day through the real ``field`` command, against a real server process."""

from tests.e2e.conftest import laptop, live_server, server_data, server_template  # noqa: F401  (shared fixtures)
