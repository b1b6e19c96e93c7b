"""A load balancer on loopback in front of several ``field-server serve`` processes, the way an
operator runs them (docs/operations.md): every request goes to one of the servers, drawn at
random, so a laptop's push may land on one process and its retry, or its next pull, on another.

Each connection carries one request (``Connection: close``, as in ``proxy.py``). A server that
refuses the connection (it was killed) is skipped for that request, as a load balancer's health
check would; a server killed while it handles a request cuts the answer short, and the laptop
meets exactly what it would meet in production: a broken connection, and its retry goes
elsewhere. ``hits`` counts the requests each server's port answered.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Sequence

from .proxy import LoopbackRelay, read_request


class Balancer(LoopbackRelay):
    def __init__(self, ports: Sequence[int], seed: int = 1) -> None:
        super().__init__()
        self.ports = list(ports)
        self.rng = random.Random(seed)
        self.hits: Counter[int] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
            if request is None:
                return
            answer = await self._forward(request)
            if answer is None:
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            else:
                writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _forward(self, request: bytes) -> bytes | None:
        """The answer of the first server, in random order, that accepts the connection (None:
        none does); what a server killed mid-request had sent, if anything."""
        for port in self.rng.sample(self.ports, len(self.ports)):
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            try:
                up_writer.write(request)
                await up_writer.drain()
                answer = await up_reader.read()  # until the server closes (Connection: close)
            except OSError:
                answer = b""
            finally:
                up_writer.close()
            self.hits[port] += 1
            return answer
        return None
