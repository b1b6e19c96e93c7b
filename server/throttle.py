"""Strangers at the door: what a request without a token may cost the server.

Two endpoints answer anyone: enrollment (``POST /sync/v1/enroll``) and the office sign-in
(``POST /office/login``). 150 concurrent 8 MiB bodies to them once took the server from 467 MB
to 1.8 GB, and nothing limited guessing. For them:

- a body holds at most ``UNAUTHENTICATED_BODY_BYTES`` (4 KiB; ``413 too_large`` before more is
  read, also after gzip inflation);
- at most ``unauthenticated_concurrency`` are served at once; one more answers ``429`` at once
  (``UnauthenticatedGate``), and each must have sent its body within
  ``unauthenticated_timeout_seconds`` (``408``), so slow senders cannot hold the door;
- failures (an unknown, used or expired token) are counted per client address and per token
  prefix; past the limit within the window every attempt from that address, or with that
  prefix, answers ``429`` with ``Retry-After``, the right token included: a guesser learns
  nothing more until the window moves on (``FailureLimiter``).

The counts live in this process's memory: a restart forgets them, and each server process
counts on its own. Behind a proxy the client address is the proxy's unless the proxy's
``X-Forwarded-For`` is trusted (``field-server serve --forwarded-allow-ips``).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable

import anyio
import msgspec

from sync_protocol import RequestTimeout, TooManyRequests, sync_path

from .policy import SecurityConfig

UNAUTHENTICATED_PATHS = frozenset({sync_path("enroll"), "/office/login"})
UNAUTHENTICATED_BODY_BYTES = 4 * 1024
_MAX_KEYS = 100_000  # addresses and prefixes remembered at once (the oldest are forgotten)


class FailureLimiter:
    """Failed attempts per key in a sliding window; thread-safe, with an injectable clock."""

    def __init__(self, config: SecurityConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._failures: collections.OrderedDict[tuple[str, str], collections.deque[float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, address: str, token: str) -> list[tuple[tuple[str, str], int]]:
        prefix = token.strip()[: self._config.token_prefix_length]
        return [
            (("address", address), self._config.failures_per_address),
            (("prefix", prefix), self._config.failures_per_token_prefix),
        ]

    def check(self, address: str, token: str) -> None:
        """``TooManyRequests`` while the address or the token's prefix is over its limit."""
        now = self._clock()
        window = self._config.failure_window_seconds
        with self._lock:
            for key, limit in self._keys(address, token):
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - window:
                    times.popleft()
                if len(times) >= limit:
                    wait = max(1, int(times[0] + window - now) + 1)
                    what = "this address" if key[0] == "address" else "tokens starting like this one"
                    raise TooManyRequests(
                        f"too many failed attempts from {what}: try again in {wait} s", field="token", retry_after=wait
                    )

    def failed(self, address: str, token: str) -> None:
        now = self._clock()
        with self._lock:
            for key, _limit in self._keys(address, token):
                times = self._failures.pop(key, None) or collections.deque()
                times.append(now)
                self._failures[key] = times  # most recent last
            while len(self._failures) > _MAX_KEYS:
                self._failures.popitem(last=False)


class Gate:
    """How many unauthenticated requests are being served right now, against the bound."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._inside = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self._inside >= self.bound:
                return False
            self._inside += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._inside -= 1


class UnauthenticatedGate:
    """ASGI middleware (app level, so it runs before sessions, CSRF and the handler read a
    byte): a bounded number of unauthenticated requests at once, each with a deadline for its body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in UNAUTHENTICATED_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.fieldsync
        gate: Gate = state.gate
        if not gate.enter():
            busy = TooManyRequests(
                "the server is serving as many sign-ins as it takes at once: try again in a second",
                field=None,
                retry_after=1,
            )
            await _answer(send, busy)
            return
        deadline = anyio.current_time() + state.config.security.unauthenticated_timeout_seconds

        async def receive_in_time() -> Any:
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as waited:
                return await receive()
            if waited.cancelled_caught:
                raise RequestTimeout("the request body did not arrive in time", field="body")

        try:
            await self.app(scope, receive_in_time, send)
        finally:
            gate.leave()


async def _answer(send: Any, error: TooManyRequests) -> None:
    body = msgspec.json.encode(error.to_body())
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(error.retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def client_address(connection: Any) -> str:
    client = getattr(connection, "client", None)
    return client.host if client is not None and client.host else "unknown"
