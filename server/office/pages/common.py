"""What every office page shares: rendering with the signed-in user and flash messages, where
each role lands, safe redirect targets, and how an edit's outcome is told."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.params import Parameter
from litestar.response import Template

from sync_protocol.office import EditReply

from ...storage import devices
from ..worker import in_thread

log = logging.getLogger("fieldsync.office")
AnyRequest = Request[Any, Any, Any]
Page = Response[bytes]  # a rendered page (``render``)
PageNumber = Annotated[int, Parameter(ge=1, le=1_000_000)]  # ?page= of a long list
_FLASH = "flash"


def _who(request: AnyRequest) -> Any:
    return request.state.get("office_principal")


def flash(request: AnyRequest, message: str, level: str = "ok") -> None:
    """A message for the next page this browser shows (kept in the session)."""
    request.session.setdefault(_FLASH, []).append([level, message])


async def render(request: AnyRequest, template: str, status: int = 200, **context: Any) -> Page:
    """A page rendered in a worker thread, not on the event loop: a job sheet of thousands of
    events takes a while to render, and the loop also answers every laptop's sync meanwhile."""
    flashes = request.session.pop(_FLASH, []) if "session" in request.scope else []
    page = Template(
        template_name=template,
        status_code=status,
        context={"who": _who(request), "flashes": flashes, "now": dt.datetime.now(dt.timezone.utc), **context},
    )
    full = page.create_template_context(request)  # adds the request and this session's CSRF token
    engine = request.app.template_engine
    assert engine is not None, "the office app is configured with templates"
    body = await in_thread(lambda: engine.get_template(template).render(**full).encode())
    return Response(body, status_code=status, media_type=MediaType.HTML)


def pages(total: int, size: int, page: int) -> dict[str, int]:
    """Where a long list is cut: this page's slice and how many pages there are (page 1 first)."""
    count = max(1, -(-total // size))
    page = min(max(page, 1), count)
    return {"page": page, "pages": count, "start": (page - 1) * size, "end": min(page * size, total), "total": total}


def home_for(role: str) -> str:
    return "/office/audit" if role == "supervisor" else "/office/board"


def safe_next(target: str | None) -> str | None:
    """Only a path of this app: never an open redirect to another site."""
    if target and target.startswith("/office/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def edit_message(reply: EditReply, what: str) -> tuple[str, str]:
    """(level, sentence) telling the person what became of their edit."""
    if reply.status == "conflict":
        return (
            "warn",
            f"{what}: {reply.message}; the merge rule decided, and the other side waits in the conflict queue.",
        )
    if reply.status == "unchanged":
        return ("ok", f"{what}: nothing changed.")
    if reply.status == "merged":
        return ("ok", f"{what}: saved, merged with changes made elsewhere meanwhile.")
    return ("ok", f"{what}: saved.")


def user_names(conn: Any) -> dict[str, str]:
    """Display names by user id, for who/when lines."""
    return devices.display_names(conn)


def quote_id(record_id: str) -> str:
    """A record id as one URL path segment (stock ids hold ``|`` and ``:``)."""
    return quote(record_id, safe="")
