"""Who may drive the laptop app: only the browser the engineer opened it in.

A server on 127.0.0.1 is reachable by every web page the engineer's browser shows and by every
local user, so each request passes, in order:

1. ``Host`` is exactly ``127.0.0.1:PORT`` (a DNS-rebinding page names its own host).
2. ``Sec-Fetch-Site`` is ``same-origin`` or ``none``, and ``Origin``, when sent, is this app's;
   writes must send it. A page on another port of 127.0.0.1 is *same-site* for cookies, so
   neither SameSite nor the cookie's host keeps it out: these two headers do.
3. A session: ``field ui`` prints a URL carrying a one-time secret; opening it exchanges the
   secret for an HttpOnly, SameSite=Strict session cookie, and the secret is spent.
4. Writes carry the session's CSRF token (a form field or the ``X-CSRF-Token`` header). It is
   bound to the server-side session, not a double-submit cookie: cookies ignore ports, so any
   program listening on 127.0.0.1 could plant a cookie of its choosing.

Sessions live in memory: stopping ``field ui`` ends them all. Every answer carries a CSP
without ``unsafe-inline`` (the app has no inline script, handler or style) and forbids
framing by others.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Awaitable, Callable

OPEN_PATH = "/open"
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_KEY = "fieldui.session"  # where the middleware leaves the session in the ASGI scope

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-src 'self'; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    # not no-referrer: with it, Chromium sends `Origin: null` on form posts, which the gate refuses
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
]

Refuse = Callable[[dict[str, Any], int, str], Awaitable[tuple[bytes, bytes]]]


@dataclass
class Session:
    id: str
    csrf: str
    locale: str | None = None  # the language chosen in the app, if any
    flashes: list[tuple[str, str]] = field(default_factory=list)


class Gate:
    """The one-time secret, the sessions and the checks of one running ``field ui``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.origin = f"http://{self.host}"
        self.cookie = f"fieldui-{port}"  # one per port: two apps on one laptop keep their own
        self._secret: str | None = secrets.token_urlsafe(32)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    @property
    def opening_url(self) -> str:
        """The URL to open once (the secret in it is spent by its first use)."""
        if self._secret is None:
            raise RuntimeError("the opening link was used already")
        return f"{self.origin}{OPEN_PATH}?secret={self._secret}"

    def exchange(self, secret: str) -> Session | None:
        """Spend the one-time secret for a new session (None: wrong, or spent already)."""
        with self._lock:
            if self._secret is None or not hmac.compare_digest(secret.encode(), self._secret.encode()):
                return None
            self._secret = None
            session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
            self._sessions[session.id] = session
            return session

    def session(self, cookie_header: str | None) -> Session | None:
        if not cookie_header:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie_header)
        except Exception:  # noqa: BLE001  (a malformed Cookie header is no session)
            return None
        morsel = jar.get(self.cookie)
        return self._sessions.get(morsel.value) if morsel is not None else None

    def set_cookie(self, session: Session) -> str:
        return f"{self.cookie}={session.id}; Path=/; HttpOnly; SameSite=Strict"

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), session.csrf.encode())

    def refusal(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        """Why the request may not pass the door (status, reason), before any session."""
        if headers.get("host") != self.host:
            return 403, "foreign_host"
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return 403, "foreign_origin"
        origin = headers.get("origin")
        if origin is not None and origin != self.origin:
            return 403, "foreign_origin"
        if method not in SAFE_METHODS and origin is None:
            return 403, "foreign_origin"
        return None


class GateMiddleware:
    """The ASGI side of the gate: refuses at the door, attaches the session, adds the headers."""

    def __init__(self, app: Any, gate: Gate, refuse: Refuse) -> None:
        self.app = app
        self.gate = gate
        self.refuse = refuse

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.gate.refusal(scope["method"], scope["path"], headers)
        session = self.gate.session(headers.get("cookie"))
        if problem is None and session is None and scope["path"] != OPEN_PATH:
            problem = (401, "no_session")
        if problem is not None:
            status, reason = problem
            body, media_type = await self.refuse(headers, status, reason)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", media_type),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store"),
                        *SECURITY_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope[SESSION_KEY] = session

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
