"""The app's pages: Today, a job's sheet and steps, the signing page, the service report,
drawings and files, and the sync page. Each is one read of the laptop store through
``Workbench`` (no network: the server's reachability is only what was last learnt)."""

from __future__ import annotations

import re
from typing import Any

import anyio

from litestar import Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from sync_protocol import Photo, Quote, Signature, kind_of, sheet_hash
from sync_protocol.events import NOT_ON_SHEET

from .. import images, rules
from ..errors import UnknownRecord
from ..workbench import explain
from . import steps, words
from .rendering import HTML, AnyRequest, gettext_of, header_state, locale_of, page, ui_of
from .gate import OPEN_PATH, SESSION_KEY

_SHA = re.compile(r"^[0-9a-f]{64}$")


@get(OPEN_PATH, sync_to_thread=False)
def open_app(request: AnyRequest, secret: FromQuery[str] = "") -> Response[Any]:
    """Spend the one-time secret printed by ``field ui`` for this browser's session cookie."""
    ui = ui_of(request)
    if request.scope.get(SESSION_KEY) is not None:  # type: ignore[misc]
        return Redirect("/", status_code=303)  # this browser opened it already: carry on
    session = ui.gate.exchange(secret)
    if session is None:
        locale = ui.catalogs.negotiate(request.headers.get("accept-language"))
        html = ui.catalogs.render(locale, "refused.html", status=403, reason="link_used")
        return Response(html, media_type=HTML, status_code=403)
    return Redirect(
        "/", status_code=303, headers={"set-cookie": ui.gate.set_cookie(session), "cache-control": "no-store"}
    )


@get("/", sync_to_thread=True)
def today(request: AnyRequest) -> Response[str]:
    ui = ui_of(request)
    _ = gettext_of(request)
    bench = ui.bench
    ready = bench.ready(verify_files=False)
    sites = {s.id: s.name for s in bench.client.records("site")}  # type: ignore[attr-defined]
    pending = bench.client.pending_by_job()
    rows = [
        (job, deadline, sites.get(job.site_id, job.site_id), pending.get(job.id, 0))
        for job, deadline in bench.jobs_by_urgency()
    ]
    return page(
        request,
        "today.html",
        rows=rows,
        ready=ready,
        problems=[words.problem(p, _) for p in ready.problems],
        conflicts=[explain(c, _) for c in bench.client.conflicts()],  # type: ignore[arg-type]
    )


TIMELINE = 60  # events shown on the job page before "show all": the sheet of a long job paints at once


def job_context(request: AnyRequest, job_id: str, whole_timeline: bool = False) -> dict[str, Any]:
    """Everything the job page shows (also re-shown, with the refusal, when an action is refused).
    The timeline shows the latest ``TIMELINE`` events unless the whole one is asked for."""
    ui = ui_of(request)
    _ = gettext_of(request)
    bench = ui.bench
    sheet = bench.sheet(job_id)
    plain = [v.event for v in sheet["events"]]
    all_steps = steps.steps(plain, sheet["equipment"], sheet["signature"]["state"])
    latest_id = rules.latest_quote_id(plain)
    latest_quote = next((e for e in plain if e.id == latest_id), None)
    approved = rules.approved_quote(plain)
    fmt = ui.catalogs.formats(locale_of(request))
    day = fmt.day
    parts = bench.client.records("part")
    stock = {s.sku: s.qty for s in bench.client.van_stock()}  # type: ignore[attr-defined]
    return {
        "sheet": sheet,
        "job": sheet["job"],
        "steps": all_steps,
        "next": steps.next_step(all_steps),
        "warranty_words": {eq.id: words.warranty(eq, w, _, day) for eq, w in sheet["equipment"]},
        "paid": any(not w.covered for _eq, w in sheet["equipment"]),
        "latest_quote": latest_quote,
        "approved": latest_quote is not None and approved is not None and approved == latest_quote.payload,
        "parts": parts,
        "stock": stock,
        "part_labels": {p.id: _part_label(p, stock, fmt.money, _) for p in parts},
        "photos": [e for e in plain if isinstance(e.payload, Photo)],
        "conflict_words": [explain(c, _) for c in sheet["conflicts"]],
        "timeline": sheet["events"] if whole_timeline else sheet["events"][-TIMELINE:],
        "errors": {},
        "values": {},
    }


def _part_label(part: Any, stock: dict[str, int], money: Any, _: Any) -> str:
    """A part as the quote's and the swap's lists name it: once per page, not once per list."""
    words = [part.id, part.name, money(part.price_cents, part.currency)]
    if part.wear_part:
        words.append(_("wear part"))
    if part.id in stock:
        words.append(_("van: {qty}").format(qty=stock[part.id]))
    return " · ".join(words)  # (no _() inside an f-string: the message extractor cannot see it there)


@get("/jobs/{job_id:str}", sync_to_thread=True)
def job_page(request: AnyRequest, job_id: FromPath[str], timeline: FromQuery[str] = "") -> Response[str]:
    return page(request, "job.html", **job_context(request, job_id, whole_timeline=timeline == "all"))


def sign_context(request: AnyRequest, job_id: str) -> dict[str, Any]:
    bench = ui_of(request).bench
    sheet = bench.sheet(job_id)
    plain = [v.event for v in sheet["events"]]
    quotes = [e.payload for e in plain if isinstance(e.payload, Quote)]
    return {
        "sheet": sheet,
        "job": sheet["job"],
        "sheet_hash": sheet_hash(sheet["job"], plain),
        "quote": rules.approved_quote(plain) or (quotes[-1] if quotes else None),
        "work": [v for v in sheet["events"] if kind_of(v.event.payload) not in NOT_ON_SHEET],
        "errors": {},
        "values": {},
    }


@get("/jobs/{job_id:str}/sign")
async def sign_page(request: AnyRequest, job_id: FromPath[str]) -> Response[str]:
    # async, with the store read in a worker thread: litestar 2.25 answers 500 for a
    # sync_to_thread GET that shares its path with another handler (here the POST).
    return await anyio.to_thread.run_sync(lambda: page(request, "sign.html", **sign_context(request, job_id)))


@get("/jobs/{job_id:str}/report", sync_to_thread=True)
def report_page(request: AnyRequest, job_id: FromPath[str]) -> Response[str]:
    sheet = ui_of(request).bench.sheet(job_id)
    plain = [v.event for v in sheet["events"]]
    signatures = [e for e in plain if isinstance(e.payload, Signature)]
    quotes = [e.payload for e in plain if isinstance(e.payload, Quote)]
    return page(
        request,
        "report.html",
        sheet=sheet,
        job=sheet["job"],
        signed=signatures[-1] if signatures else None,
        quote=rules.approved_quote(plain) or (quotes[-1] if quotes else None),
        work=[v for v in sheet["events"] if not isinstance(v.event.payload, Signature)],
    )


@get("/drawings/{drawing_id:str}", sync_to_thread=True)
def drawing_page(request: AnyRequest, drawing_id: FromPath[str], job: FromQuery[str] = "") -> Response[str]:
    client = ui_of(request).bench.client
    drawing = client.record("drawing", drawing_id)
    path = client.blob_path(drawing.sha256)  # type: ignore[attr-defined]
    kind = images.sniff(path.read_bytes()[:16]) if path else None
    return page(
        request,
        "drawing.html",
        drawing=drawing,
        on_laptop=path is not None,
        kind=kind,
        back=f"/jobs/{job}" if re.fullmatch(r"[A-Za-z0-9_.:|@-]{1,64}", job) else "/",
    )


def _file(data: bytes, name: str) -> Response[bytes]:
    """Only what really is a PNG, JPEG, WebP or PDF is shown inline; anything else downloads."""
    media_type = images.sniff(data[:16])
    if media_type is None:
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"content-disposition": f'attachment; filename="{_safe_name(name)}"'},
        )
    return Response(
        data,
        media_type=media_type,
        headers={
            "content-disposition": f'inline; filename="{_safe_name(name)}"',
            "cache-control": "private, max-age=3600",
        },
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "file"


@get("/files/drawings/{drawing_id:str}", sync_to_thread=True)
def drawing_file(request: AnyRequest, drawing_id: FromPath[str]) -> Response[bytes]:
    bench = ui_of(request).bench
    drawing = bench.client.record("drawing", drawing_id)
    return _file(bench.drawing_file(drawing_id).read_bytes(), drawing.filename)  # type: ignore[attr-defined]


@get("/files/blobs/{sha256:str}", sync_to_thread=True)
def blob_file(request: AnyRequest, sha256: FromPath[str]) -> Response[bytes]:
    """A photo or a signature image from the laptop's cache (images only)."""
    path = ui_of(request).bench.client.blob_path(sha256) if _SHA.match(sha256) else None
    if path is None:
        raise UnknownRecord(f"no file {sha256[:12]} on this laptop", field="sha256")
    data = path.read_bytes()
    if images.sniff(data[:16]) not in ("image/png", "image/jpeg", "image/webp"):
        raise UnknownRecord("not an image", field="sha256")
    return _file(data, f"{sha256[:12]}")


@get("/sync")
async def sync_page(request: AnyRequest) -> Response[str]:
    return await anyio.to_thread.run_sync(_sync_page, request)  # see sign_page: shares its path


def _sync_page(request: AnyRequest) -> Response[str]:
    ui = ui_of(request)
    _ = gettext_of(request)
    client = ui.bench.client
    ui.runner.reachable(ask=False)
    return page(
        request,
        "sync.html",
        state=ui.runner.state(),
        conflicts=[(c, explain(c, _)) for c in client.conflicts()],  # type: ignore[arg-type]
        refused=client.answers("rejected"),
    )


@get("/sync/state", sync_to_thread=True)
def sync_state(request: AnyRequest) -> dict[str, Any]:
    """For the pages' script: the header strip and the sync's progress, rendered in words."""
    ui = ui_of(request)
    ui.runner.reachable(ask=True)
    state = ui.runner.state()
    header = header_state(ui)
    locale = locale_of(request)
    return {
        "running": state["running"],
        "runs": state["runs"],
        "pending": header["pending"],
        "status_html": ui.catalogs.render(locale, "_status.html", header=header),
        "sync_html": ui.catalogs.render(locale, "_syncstate.html", state=state),
    }


PAGES = [
    open_app,
    today,
    job_page,
    sign_page,
    report_page,
    drawing_page,
    drawing_file,
    blob_file,
    sync_page,
    sync_state,
]
__all__ = ["PAGES", "job_context", "sign_context"]
