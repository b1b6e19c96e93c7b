"""What every office page shares: rendering with the signed-in user and flash messages, where
each role lands, safe redirect targets, and how an edit's outcome is told."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.response import Template

from sync_protocol.office import EditReply

log = logging.getLogger("fieldsync.office")
AnyRequest = Request[Any, Any, Any]
_FLASH = "flash"


def _who(request: AnyRequest) -> Any:
    return request.state.get("office_principal")


def flash(request: AnyRequest, message: str, level: str = "ok") -> None:
    """A message for the next page this browser shows (kept in the session)."""
    request.session.setdefault(_FLASH, []).append([level, message])


def render(request: AnyRequest, template: str, status: int = 200, **context: Any) -> Template:
    flashes = request.session.pop(_FLASH, []) if "session" in request.scope else []
    return Template(template_name=template, status_code=status,
                    context={"who": _who(request), "flashes": flashes, "now": dt.datetime.now(dt.timezone.utc),
                             **context})


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
        return ("warn", f"{what}: {reply.message}; the merge rule decided, and the other side waits "
                        f"in the conflict queue.")
    if reply.status == "unchanged":
        return ("ok", f"{what}: nothing changed.")
    if reply.status == "merged":
        return ("ok", f"{what}: saved, merged with changes made elsewhere meanwhile.")
    return ("ok", f"{what}: saved.")


def user_names(conn: Any) -> dict[str, str]:
    """Display names by user id, for who/when lines."""
    return {r["id"]: r["display_name"] for r in conn.execute("SELECT id, display_name FROM users")}


def quote_id(record_id: str) -> str:
    """A record id as one URL path segment (stock ids hold ``|`` and ``:``)."""
    return quote(record_id, safe="")
