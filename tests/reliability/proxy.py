"""A fault-injecting HTTP proxy for loopback tests: the network a laptop meets in the field.

Each request that comes through meets one fate, drawn from a seeded random generator:

- ``pass``: forwarded, answer relayed;
- ``delay``: forwarded after a pause;
- ``drop_before``: the connection is closed before the request reaches the server;
- ``drop_after``: the server handles the request, the answer is thrown away (lost answer);
- ``truncate``: half the answer is relayed, then the connection is cut;
- ``error``: a 503 without the server ever seeing the request.

Every connection carries one request (``Connection: close`` upstream and downstream), which
keeps the relay simple and exact. ``fates`` counts what happened, for the test to assert on.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from typing import Self

FATES = ("pass", "delay", "drop_before", "drop_after", "truncate", "error")


class LoopbackRelay:
    """An HTTP relay on 127.0.0.1 and a free port, served by an event loop in a thread of its
    own from ``with`` to the end of the block; ``handle`` answers each connection."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self.handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()


class FaultProxy(LoopbackRelay):
    def __init__(self, upstream_port: int, weights: dict[str, float], seed: int = 1) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.weights = weights
        self.rng = random.Random(seed)
        self.fates: Counter[str] = Counter()

    def _fate(self) -> str:
        names = list(self.weights)
        fate = self.rng.choices(names, [self.weights[n] for n in names])[0]
        self.fates[fate] += 1
        return fate

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
            if request is None:
                return
            fate = self._fate()
            if fate == "drop_before":
                return
            if fate == "error":
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                await writer.drain()
                return
            if fate == "delay":
                await asyncio.sleep(self.rng.uniform(0.01, 0.2))
            answer = await self._forward(request)
            if fate == "drop_after":
                return
            if fate == "truncate":
                answer = answer[: max(1, len(answer) // 2)]
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _forward(self, request: bytes) -> bytes:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            up_writer.write(request)
            await up_writer.drain()
            return await up_reader.read()  # until the server closes (Connection: close)
        finally:
            up_writer.close()


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request, rewritten to ``Connection: close``."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    kept = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        name = line.split(":", 1)[0].strip().lower()
        if name == "content-length":
            length = int(line.split(":", 1)[1])
        if name in ("connection", "keep-alive"):
            continue
        kept.append(line)
    kept.append("Connection: close")
    body = await reader.readexactly(length) if length else b""
    return ("\r\n".join(kept) + "\r\n\r\n").encode("latin-1") + body
