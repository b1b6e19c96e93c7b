"""Store work off the event loop: SQLite calls block, so every handler runs them in a worker thread."""

from __future__ import annotations

from typing import Callable, TypeVar

import anyio.to_thread

T = TypeVar("T")


async def in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in litestar's (anyio's) thread pool and return its result."""
    return await anyio.to_thread.run_sync(fn)
