"""The fieldsync server: litestar over SQLite, serving the sync protocol of ``sync_protocol``.

>>> from server import create_app            # doctest: +SKIP
>>> app = create_app("var/server")           # doctest: +SKIP

``server`` depends on ``sync_protocol`` only; the field client never imports it.
"""

from typing import Any

from .version import __version__

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # The web framework loads only when an app is made, so the administrative commands
    # (``field-server user add`` ...) start in a fraction of the time.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'server' has no attribute {name!r}")
