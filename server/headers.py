"""Headers every answer carries: a Content-Security-Policy that runs no inline script, and no framing.

The office pages render data that laptops and integrations wrote (job numbers, site names,
findings). Jinja escapes it, and no page carries an inline script or event handler: their
behaviour lives in ``server/static/*.js``. The policy holds every page to that, so a value that
escaped into markup still could not run: scripts only from this origin, no inline ones, no
``eval``, no plugins, forms posting only here, and no other site may frame a page (clickjacking).
A handler that needs another policy (a stored file served inline) sets its own header first.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# A stored file opened in the browser (a drawing's PDF, a photo): nothing in it may run.
FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"

HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
)


async def security_headers(message: Message, scope: Scope) -> None:
    """litestar ``before_send`` hook: add the headers to every answer that does not set them."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in HEADERS:
        if name not in headers:
            headers[name] = value
