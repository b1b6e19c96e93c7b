"""Fixtures every test folder may use: a real server process and real field clients.

They are defined in ``tests/support/fixtures.py`` over the harness of ``tests/support/live.py``;
helpers shared between test folders live in ``tests/support/`` too, never in a conftest.
"""

from tests.support.blobstores import blob_store, s3_endpoint  # noqa: F401
from tests.support.browser import chromium, new_page  # noqa: F401
from tests.support.fixtures import engineer, laptop, live_server, server_data, server_template  # noqa: F401
