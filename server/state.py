"""What every request needs: the store, the blob store, the clock and the cursor key.

One ``ServerState`` per app (``app.state.fieldsync``); the HTTP modules and the office read it
through ``http.state_of``. It imports nothing of the web layer, so anything may import it.
"""

from __future__ import annotations

from pathlib import Path

from . import blobstore, policy, throttle
from .push import ServerClock
from .storage import DB_FILE, Store, database_url, meta, open_database


__all__ = ["DB_FILE", "ServerState"]


class ServerState:
    """Also the configuration read at start, and the counts kept about strangers (``throttle.py``).
    ``blobs_url`` is ``field-server serve --blobs``: where blob bytes live, instead of ``[blobs]``
    of ``config.toml`` (``blobstore.open_store``)."""

    def __init__(
        self, data_dir: Path, durable: bool = False, database: str | None = None, blobs_url: str | None = None
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.config = policy.load(data_dir)
        self.database = database_url(data_dir, database or self.config.database)
        self.db: Store = open_database(self.database, durable=durable)
        self.db.migrate()
        self.blobs: blobstore.BlobStore = blobstore.open_store(data_dir, self.config.blobs, blobs_url)
        self.clock = ServerClock()
        self.secret: str = self.db.read(meta.secret)
        self.limiter = throttle.FailureLimiter(self.config.security)
        self.gate = throttle.Gate(self.config.security.unauthenticated_concurrency)

    def close(self) -> None:
        self.db.close()
