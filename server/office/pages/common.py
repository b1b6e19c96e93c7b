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

from sync_protocol.i18n import zone_label
from sync_protocol.locales import html_lang

from ...storage import devices
from .. import conflict_queue
from ..access import server_state
from ..i18n import catalogs as i18n_catalogs
from ..i18n import gettext_of, locale_of, office_zone, words
from ..worker import in_thread

log = logging.getLogger("fieldsync.office")
AnyRequest = Request[Any, Any, Any]
Page = Response[bytes]  # a rendered page (``render``)
PageNumber = Annotated[int, Parameter(ge=1, le=1_000_000)]  # ?page= of a long list
_FLASH = "flash"


def _who(request: AnyRequest) -> Any:
    return request.state.get("office_principal")


def flash(request: AnyRequest, message: str, level: str = "ok") -> None:
    """A message for the next page this browser shows (kept in the session), in the reader's
    language: an error's words are translated now, before the session stores plain text."""
    request.session.setdefault(_FLASH, []).append([level, words(request, message)])


def _context(
    request: AnyRequest, template: str, status: int, context: dict[str, Any], frame: dict[str, Any]
) -> dict[str, Any]:
    flashes = request.session.pop(_FLASH, []) if "session" in request.scope else []
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = Template(
        template_name=template,
        status_code=status,
        context={
            **frame,
            "flashes": flashes,
            "here": here if request.method == "GET" else "",
            **context,
        },
    )
    return page.create_template_context(request)  # adds the request and this session's CSRF token


def _page(locale: str, body: bytes, status: int) -> Page:
    return Response(
        body, status_code=status, media_type=MediaType.HTML, headers={"Content-Language": html_lang(locale)}
    )


async def render(request: AnyRequest, template: str, status: int = 200, **context: Any) -> Page:
    """A page in the reader's language (``i18n.locale_of``), rendered in a worker thread, not on
    the event loop: a job sheet of thousands of events takes a while to render, and the loop
    also answers every laptop's sync meanwhile."""
    frame = await page_frame(request)
    full = _context(request, template, status, context, frame)
    locale, catalogs = locale_of(request), i18n_catalogs(frame["office_zone"].key)
    return _page(locale, await in_thread(lambda: catalogs.render(locale, template, **full).encode()), status)


def render_now(request: AnyRequest, template: str, status: int = 200, **context: Any) -> Page:
    """``render`` on the event loop, for the small error page (exception handlers are not async)."""
    frame = frame_of(request, open_conflicts=0)  # no store read on the loop: the count waits
    full = _context(request, template, status, context, frame)
    locale = locale_of(request)
    return _page(locale, i18n_catalogs(frame["office_zone"].key).render(locale, template, **full).encode(), status)


def frame_of(request: AnyRequest, open_conflicts: int) -> dict[str, Any]:
    """What the frame of every page shows: who is signed in, the office's time zone (its
    ``office_zone`` picks the catalogs whose formats show times in it), the open conflicts."""
    zone = office_zone(request)
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "who": _who(request),
        "now": now,
        "office_zone": zone,
        "zone_name": f"{zone.key} ({zone_label(zone, now)})",
        "open_conflicts": open_conflicts,
    }


async def page_frame(request: AnyRequest) -> dict[str, Any]:
    """``frame_of`` with the count of open conflicts for the navigation (for signed-in people)."""
    state = server_state(request)
    count = await in_thread(lambda: state.db.read(conflict_queue.count_conflicts)) if _who(request) else 0
    return frame_of(request, count)


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


def edit_message(request: AnyRequest, reply: EditReply, what: str) -> tuple[str, str]:
    """(level, sentence) telling the person what became of their edit, in their language."""
    _ = gettext_of(request)
    if reply.status == "conflict":
        return (
            "warn",
            _("{what}: {message}; the merge rule decided, and the other side waits in the conflict queue.").format(
                what=what, message=words(request, reply.message)
            ),
        )
    if reply.status == "unchanged":
        return ("ok", _("{what}: nothing changed.").format(what=what))
    if reply.status == "merged":
        return ("ok", _("{what}: saved, merged with changes made elsewhere meanwhile.").format(what=what))
    return ("ok", _("{what}: saved.").format(what=what))


def user_names(conn: Any) -> dict[str, str]:
    """Display names by user id, for who/when lines."""
    return devices.display_names(conn)


def quote_id(record_id: str) -> str:
    """A record id as one URL path segment (stock ids hold ``|`` and ``:``)."""
    return quote(record_id, safe="")
