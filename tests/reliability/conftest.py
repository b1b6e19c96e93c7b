from tests.e2e.conftest import live_server, server_data, server_template  # noqa: F401  (shared fixtures)
