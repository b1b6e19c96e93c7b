"""Running the app: uvicorn on a socket bound to 127.0.0.1 before the app exists, so the app
knows its own port (its ``Host`` and ``Origin`` checks name it) and no other program can take
the port in between.

``LaptopApp`` is the whole thing for ``field ui`` and for tests: ``start()`` serves in a thread
and returns once the server accepts connections, ``stop()`` ends it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from ..workbench import Workbench
from .app import create_app
from .gate import Gate
from .i18n import Catalogs
from .syncing import SyncRunner

HOST = "127.0.0.1"


class AppNotStarted(RuntimeError):
    pass


class LaptopApp:
    def __init__(self, bench: Workbench, port: int = 0, default_locale: str = "en") -> None:
        self.bench = bench
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by every accepted connection: without it, a response written in two parts
        # (headers, body) waits for the browser's delayed ACK, 40 ms per request.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.bind((HOST, port))
        self.socket.listen(128)  # a browser opened at once waits in the backlog until uvicorn accepts
        self.port: int = self.socket.getsockname()[1]
        self.gate = Gate(self.port)
        self.catalogs = Catalogs(default_locale)
        self.runner = SyncRunner(bench.client)
        self.app, self.asgi = create_app(bench, self.gate, self.catalogs, self.runner)
        self.url = self.gate.opening_url
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.asgi, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return self.gate.origin

    def serve(self) -> None:
        """Serve in this thread until ``stop()`` (or a signal, when this is the main thread)."""
        self._server.run(sockets=[self.socket])

    def start(self, timeout: float = 20.0) -> "LaptopApp":
        """Serve in a thread; return once connections are accepted."""
        self._thread = threading.Thread(target=self.serve, name="fieldui", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise AppNotStarted("the laptop app did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.runner.wait(30)
        self.socket.close()

    def __enter__(self) -> "LaptopApp":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
