"""litestar's session ``Store`` over the database (``storage.sessions``): the office's sessions
on PostgreSQL, where several server processes share them. On SQLite (one machine) they stay in
litestar's file store in the data directory (``security.session_store``)."""

from __future__ import annotations

import time
from datetime import timedelta

from anyio import to_thread
from litestar.stores.base import Store

from ..storage import Store as Database
from ..storage import sessions


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class DatabaseStore(Store):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        expires = None if seconds is None else time.time() + seconds
        await to_thread.run_sync(lambda: self.db.write(lambda c: sessions.put(c, key, data, expires)))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        found = await to_thread.run_sync(lambda: self.db.read(lambda c: sessions.get(c, key, time.time())))
        if found is None:
            return None
        value, expires = found
        if renew_for and expires is not None:
            await self.set(key, value, renew_for)
        return value

    async def delete(self, key: str) -> None:
        await to_thread.run_sync(lambda: self.db.write(lambda c: sessions.delete(c, key)))

    async def delete_all(self) -> None:
        await to_thread.run_sync(lambda: self.db.write(sessions.delete_all))

    async def delete_expired(self) -> None:
        await to_thread.run_sync(lambda: self.db.write(lambda c: sessions.delete_expired(c, time.time())))

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        found = await to_thread.run_sync(lambda: self.db.read(lambda c: sessions.get(c, key, time.time())))
        if found is None or found[1] is None:
            return None
        return int(found[1] - time.time())
