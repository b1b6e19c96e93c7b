"""The fieldsync server: litestar over SQLite, serving the sync protocol of ``sync_protocol``.

>>> from server import create_app            # doctest: +SKIP
>>> app = create_app("var/server")           # doctest: +SKIP

``server`` depends on ``sync_protocol`` only; the field client never imports it.
"""

__version__ = "0.1.0"

from .app import create_app  # noqa: E402

__all__ = ["__version__", "create_app"]
