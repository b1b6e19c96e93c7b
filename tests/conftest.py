"""Fixtures every test folder may use: a real server process and real field clients.

They are defined in ``tests/e2e/conftest.py`` (the end-to-end harness) and shared from here.
"""

from tests.e2e.conftest import engineer, laptop, live_server, server_data, server_template  # noqa: F401
