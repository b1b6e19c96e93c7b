"""HTTP to the server: MessagePack bodies, bearer token, and retries that are safe by design.

Every sync request is idempotent (pushes carry their ``seq``s, pulls their cursor, blob chunks
their offset), so a timeout, a dropped connection or a 5xx is answered by sending the very same
request again, with exponential backoff. httpx's own ``retries`` only covers connecting, hence
the loop here. An error answer becomes the protocol's typed error, rebuilt from its ``ErrorBody``.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import ssl
import time
from typing import Any, Callable, Iterator, TypeVar

import httpx

from sync_protocol import JSON, MSGPACK, ErrorBody, ProtocolError, decode, encode, format_of
from sync_protocol.codec import Format
from sync_protocol.i18n import N_

from .version import __version__
from .errors import ServerUnreachable

T = TypeVar("T")

USER_AGENT = f"fieldsync-field/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Bodies larger than this go gzip-compressed (pushes; a hello or a pull request is tiny).
_COMPRESS_ABOVE = 1024
# Level 1: a third of level 6's CPU for about 80 instead of 69 bytes per part swap (measured on
# 5,000-swap bodies); CPU, not bytes, is what a large push waits for.
_GZIP_LEVEL = 1


class Transport:
    """One server, one device token, one connection pool."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int = 4,
        backoff: float = 0.25,
        http: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # Pull pages come gzip-compressed (477 bytes of JSON per part swap become about 80);
        # httpx inflates them.
        headers = {"User-Agent": USER_AGENT, "Accept": MSGPACK, "Accept-Encoding": "gzip"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=http, verify=tls_context()
        )

    def call(self, path: str, message: Any, reply_type: type[T]) -> T:
        """POST a message, decode the typed reply; retries until an answer or ServerUnreachable."""
        content, fmt = self.exchange(path, message)
        return decode(content, reply_type, fmt)

    def exchange(self, path: str, message: Any, accept: Format | None = None) -> tuple[bytes, Format]:
        """POST a message and return the answer's body undecoded, with its format; ``accept`` asks
        for an answer in that format (a pull asks for JSON: its records are stored as JSON)."""
        body, headers = encode(message, MSGPACK), {"Content-Type": MSGPACK}
        if accept is not None:
            headers["Accept"] = accept
        if len(body) > _COMPRESS_ABOVE:
            body, headers["Content-Encoding"] = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0), "gzip"
        response = self._send(lambda: self._client.post(path, content=body, headers=headers))
        return response.content, _format(response)

    def get(self, path: str, reply_type: type[T]) -> T:
        response = self._send(lambda: self._client.get(path))
        return decode(response.content, reply_type, _format(response))

    def put(self, path: str, data: bytes, params: dict[str, Any], reply_type: type[T]) -> T:
        response = self._send(
            lambda: self._client.put(
                path, content=data, params=params, headers={"Content-Type": "application/octet-stream"}
            )
        )
        return decode(response.content, reply_type, _format(response))

    @contextlib.contextmanager
    def stream(self, path: str, start: int = 0) -> Iterator[httpx.Response]:
        """A streamed GET from byte ``start``; the caller resumes a cut stream itself."""
        headers = {"Range": f"bytes={start}-"} if start else {}
        with self._client.stream("GET", path, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            yield response

    def close(self) -> None:
        self._client.close()

    def _send(self, request: Callable[[], httpx.Response]) -> httpx.Response:
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(min(self.backoff * 2 ** (attempt - 1), 10.0))
            try:
                response = request()
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                last = f"server answered {response.status_code}"
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise ServerUnreachable(
            N_(
                "no answer from {url} after {attempts} attempts ({last})",
                url=self.base_url,
                attempts=self.retries + 1,
                last=last,
            )
        )


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (~50 ms), which httpx would
    otherwise do for every client, i.e. every sync, even over plain HTTP."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def is_transient(exc: BaseException) -> bool:
    """Whether a failure mid-stream is worth resuming (as opposed to a refusal)."""
    return isinstance(exc, (httpx.TransportError, ServerUnreachable))


def _format(response: httpx.Response) -> Format:
    try:
        return format_of(response.headers.get("content-type"))
    except ProtocolError:
        return JSON


def _error(response: httpx.Response) -> ProtocolError:
    try:
        body = decode(response.content, ErrorBody, _format(response))
    except ProtocolError:
        error = ProtocolError(f"server answered {response.status_code}: {response.text[:200]}")
        error.status = response.status_code
        return error
    error = ProtocolError.from_body(body)
    error.status = response.status_code
    return error
