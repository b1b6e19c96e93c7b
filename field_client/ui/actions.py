"""The app's writes: every on-site step of a job, the signature, a sync, the language.

Each action checks the CSRF token (``before_request``), reads its form, and makes one
``Workbench`` call: the very rules of the CLI refuse it at the moment of recording. Done, it
redirects to the job's next step with a word of what was recorded; refused, the job page comes
back (422) with the refusal next to the field it is about, the way forward, and what was typed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any, Callable, get_args

import anyio
from litestar import Response, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect

from sync_protocol.events import Cause

from ..errors import FieldClientError
from ..render import cents
from ..workbench import Workbench
from . import words
from .rendering import HTML, AnyRequest, flash, gettext_of, page, session_of, ui_of
from .gate import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, SESSION_KEY, Gate
from .pages import job_context, sign_context

Gettext = Callable[[str], str]
Form = dict[str, Any]
_SHA = re.compile(r"^[0-9a-f]{64}$")
PHOTO_BODY = 30 * 1024 * 1024


class FormError(Exception):
    """A form value the app cannot use, said in the reader's language, naming its field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


async def before_request(request: AnyRequest) -> Response[str] | None:
    """No write without the session's CSRF token (a form field, or a header for scripts)."""
    if request.method in SAFE_METHODS:
        return None
    session = request.scope.get(SESSION_KEY)
    token = request.headers.get(CSRF_HEADER)
    if token is None and session is not None:
        token = (await request.form()).get(CSRF_FIELD)
    if session is not None and Gate.csrf_ok(session, token):  # type: ignore[misc]
        return None
    ui = ui_of(request)
    locale = ui.catalogs.negotiate(request.headers.get("accept-language"), session.locale if session else None)
    return Response(
        ui.catalogs.render(locale, "refused.html", status=403, reason="csrf"), media_type=HTML, status_code=403
    )


# --- reading forms ----------------------------------------------------------------------------


def text(form: Form, name: str, _: Gettext, required: bool = False, limit: int = 4000) -> str:
    value = str(form.get(name) or "").strip()
    if required and not value:
        raise FormError(name, _("This field is required."))
    if len(value) > limit:
        raise FormError(name, _("At most {limit} characters.").format(limit=limit))
    return value


def whole(form: Form, name: str, _: Gettext, low: int, high: int, default: int | None = None) -> int | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FormError(name, _("A whole number, please.")) from None
    if not low <= value <= high:
        raise FormError(name, _("A number from {low} to {high}, please.").format(low=low, high=high))
    return value


def choice(form: Form, name: str, options: tuple[str, ...], _: Gettext) -> str:
    value = str(form.get(name) or "")
    if value not in options:
        raise FormError(name, _("Choose one of the options."))
    return value


def _checked(form: Form, name: str) -> bool:
    return str(form.get(name) or "") in ("1", "on", "yes", "true")


# --- the pattern of every action -----------------------------------------------------------------


async def _act(
    request: AnyRequest, job_id: FromPath[str], step: str, work: Callable[[Workbench, Form, Gettext], str]
) -> Response[Any]:
    form = dict((await request.form()).items())
    return await anyio.to_thread.run_sync(_record, request, job_id, step, form, work)


def _record(
    request: AnyRequest, job_id: FromPath[str], step: str, form: Form, work: Callable[[Workbench, Form, Gettext], str]
) -> Response[Any]:
    _ = gettext_of(request)
    try:
        said = work(ui_of(request).bench, form, _)
    except FormError as exc:
        refusal = words.Refusal(exc.field, exc.message, [])
    except FieldClientError as exc:
        refusal = words.refusal(exc, _, job_id)
    else:
        flash(request, said)
        return Redirect(f"/jobs/{job_id}#next", status_code=303)
    context = job_context(request, job_id)
    context["errors"] = {step: refusal}
    context["values"] = {step: {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}}
    return page(request, "job.html", status=422, **context)


def _recorded(_: Gettext, what: str) -> str:
    return _("Recorded: {what}. It will sync.").format(what=what)


# --- the on-site steps -----------------------------------------------------------------------------


@post("/jobs/{job_id:str}/checkin")
async def checkin(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        bench.checkin(job_id, text(form, "note", _))
        return _recorded(_, _("check-in"))

    return await _act(request, job_id, "checkin", work)


@post("/jobs/{job_id:str}/backup/hash", request_max_body_size=None)
async def hash_backup(request: AnyRequest, job_id: FromPath[str]) -> dict[str, Any]:
    """The backup file's SHA-256 and size, hashed here as the browser streams it (any size);
    nothing is kept. The engineer then records the backup with them."""
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


@post("/jobs/{job_id:str}/backup")
async def backup(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        scope = choice(form, "scope", ("system", "data", "config"), _)
        sha = text(form, "sha256", _, required=True).lower()
        if not _SHA.match(sha):
            raise FormError("sha256", _("A SHA-256 is 64 hexadecimal characters."))
        size = whole(form, "size", _, 0, 2**62)
        bench.backup(
            job_id,
            scope=scope,
            method=text(form, "method", _),
            stored_at=text(form, "stored_at", _),
            sha256=sha,
            size=size,
            verified=_checked(form, "verified"),
        )
        return _recorded(_, _("backup"))

    return await _act(request, job_id, "backup", work)


@post("/jobs/{job_id:str}/backup/waive")
async def waive(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        bench.waive_backup(job_id, text(form, "waive_reason", _, required=True))
        return _recorded(_, _("backup waived"))

    return await _act(request, job_id, "backup", work)


@post("/jobs/{job_id:str}/diagnosis")
async def diagnosis(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        cause = choice(form, "cause", get_args(Cause), _)
        bench.diagnose(job_id, cause, text(form, "findings", _, required=True), whole(form, "severity", _, 1, 4))
        return _recorded(_, _("diagnosis"))

    return await _act(request, job_id, "diagnosis", work)


QUOTE_LINES = 3


@post("/jobs/{job_id:str}/quote")
async def quote(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        parts = []
        for n in range(1, QUOTE_LINES + 1):
            sku = text(form, f"part_{n}", _, limit=64)
            if sku:
                parts.append(f"{sku}:{whole(form, f'qty_{n}', _, 1, 10_000, default=1)}")
        try:
            labour = cents(text(form, "labour", _) or "0")
        except (ValueError, ArithmeticError):
            raise FormError("labour", _("An amount like 300 or 300.50, please.")) from None
        if not parts and not labour:
            raise FormError("part_1", _("Choose a part or enter the labour."))
        bench.quote(job_id, parts, labour)
        return _recorded(_, _("quote"))

    return await _act(request, job_id, "quote", work)


@post("/jobs/{job_id:str}/approval")
async def approval(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        decision = choice(form, "decision", ("approve", "decline"), _)
        bench.approve(job_id, text(form, "by", _, required=True, limit=200), approved=decision == "approve")
        return _recorded(_, _("the customer's approval") if decision == "approve" else _("the customer's refusal"))

    return await _act(request, job_id, "quote", work)


@post("/jobs/{job_id:str}/swap")
async def swap(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        _event, warning = bench.swap(
            job_id,
            equipment=text(form, "equipment", _, required=True, limit=64),
            part=text(form, "part", _, required=True, limit=64),
            serial_out=text(form, "serial_out", _, required=True, limit=200),
            serial_in=text(form, "serial_in", _, required=True, limit=200),
            qty=whole(form, "qty", _, 1, 10_000, default=1) or 1,
            no_backup_ack=_checked(form, "no_backup_ack"),
            notes=text(form, "notes", _),
        )
        if warning:
            flash(request, _("The van now shows fewer parts than were taken; the office will see it."), "warn")
        return _recorded(_, _("part swap"))

    return await _act(request, job_id, "swap", work)


@post("/jobs/{job_id:str}/loaner")
async def loaner(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        returned = _checked(form, "returned")
        bench.loaner(job_id, text(form, "device", _, required=True, limit=200), returned)
        return _recorded(_, _("loaner returned") if returned else _("loaner lent"))

    return await _act(request, job_id, "loaner", work)


@post("/jobs/{job_id:str}/test")
async def test(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        bench.test(job_id, choice(form, "result", ("pass", "fail"), _), text(form, "notes", _))
        return _recorded(_, _("test"))

    return await _act(request, job_id, "test", work)


@post("/jobs/{job_id:str}/photo", request_max_body_size=PHOTO_BODY)
async def photo(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    upload = (await request.form()).get("photo")
    data = await upload.read() if isinstance(upload, UploadFile) else b""

    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        if not data:
            raise FormError("photo", _("Choose a photo or take one with the camera."))
        bench.photo(job_id, data, text(form, "caption", _, limit=4000))
        return _recorded(_, _("photo"))

    return await _act(request, job_id, "photo", work)


@post("/jobs/{job_id:str}/note")
async def note(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        bench.note(job_id, text(form, "text", _, required=True))
        return _recorded(_, _("note"))

    return await _act(request, job_id, "note", work)


SITE_FACTS = ("contact_name", "contact_phone", "contact_email", "installer_contact", "access_notes")
EQUIPMENT_FACTS = ("serial", "firmware", "location")


@post("/jobs/{job_id:str}/facts/{entity:str}/{record_id:str}")
async def facts(
    request: AnyRequest, job_id: FromPath[str], entity: FromPath[str], record_id: FromPath[str]
) -> Response[Any]:
    """Facts observed on site: only the fields the engineer changed are sent (a patch)."""

    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        names = {"site": SITE_FACTS, "equipment": EQUIPMENT_FACTS}.get(entity)
        if names is None:
            raise FormError("entity", _("Only sites and equipment hold facts observed on site."))
        current = bench.client.record(entity, record_id)
        changes = [
            f"{name}={text(form, name, _)}"
            for name in names
            if name in form and text(form, name, _) != getattr(current, name)
        ]
        param = text(form, "parameter", _, limit=200)
        if param:
            changes.append(f"parameters.{param}={text(form, 'parameter_value', _)}")
        if not changes:
            raise FormError(names[0], _("Nothing was changed."))
        bench.edit(entity, record_id, changes)
        return _recorded(_, _("site facts"))

    return await _act(request, job_id, "facts", work)


@post("/jobs/{job_id:str}/resolve")
async def resolve(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        bench.resolve(job_id)
        return _recorded(_, _("resolved"))

    return await _act(request, job_id, "close", work)


@post("/jobs/{job_id:str}/escalate")
async def escalate(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    def work(bench: Workbench, form: Form, _: Gettext) -> str:
        bench.escalate(job_id, text(form, "reason", _, required=True))
        return _recorded(_, _("escalated"))

    return await _act(request, job_id, "close", work)


# --- signing ----------------------------------------------------------------------------------------


def _png_of(data_url: str) -> bytes:
    head, _sep, body = data_url.partition(",")
    if head != "data:image/png;base64":
        return b""
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return b""


@post("/jobs/{job_id:str}/sign")
async def sign(request: AnyRequest, job_id: FromPath[str]) -> Response[Any]:
    """The customer's name, role and drawn signature, bound to the sheet they were shown."""
    form = dict((await request.form()).items())

    def run() -> Response[Any]:
        _ = gettext_of(request)
        bench = ui_of(request).bench
        try:
            shown = text(form, "sheet_hash", _, required=True, limit=64)
            bench.sign(
                job_id,
                text(form, "signer", _, required=True, limit=200),
                text(form, "role", _, limit=200),
                _png_of(str(form.get("image") or "")),
                again=_checked(form, "again"),
                expected_sheet_hash=shown,
            )
        except FormError as exc:
            refusal = words.Refusal(exc.field, exc.message, [])
        except FieldClientError as exc:
            refusal = words.refusal(exc, _, job_id)
        else:
            flash(request, _("Signed. Thank you! The signature will sync with the sheet."))
            return Redirect(f"/jobs/{job_id}#next", status_code=303)
        context = sign_context(request, job_id)
        context.update(
            errors={"sign": refusal}, values={"signer": form.get("signer", ""), "role": form.get("role", "")}
        )
        return page(request, "sign.html", status=422, **context)

    return await anyio.to_thread.run_sync(run)


# --- sync and language --------------------------------------------------------------------------------


@post("/sync")
async def start_sync(request: AnyRequest) -> Response[Any]:
    ui_of(request).runner.start()
    return Redirect("/sync", status_code=303)


@post("/lang")
async def choose_language(request: AnyRequest) -> Response[Any]:
    form = await request.form()
    session = session_of(request)
    session.locale = ui_of(request).catalogs.negotiate(None, str(form.get("lang") or "")) if form.get("lang") else None
    target = str(form.get("next") or "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    return Redirect(target, status_code=303)


ACTIONS = [
    checkin,
    hash_backup,
    backup,
    waive,
    diagnosis,
    quote,
    approval,
    swap,
    loaner,
    test,
    photo,
    note,
    facts,
    resolve,
    escalate,
    sign,
    start_sync,
    choose_language,
]
