"""Reference-data pages: lists, create and edit forms, drawing uploads, stock adjustments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from litestar import get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect

from sync_protocol import Forbidden, InvalidValue, NotFound, ProtocolError, Unauthorized
from sync_protocol.i18n import N_

from .. import jobs, refdata
from ..access import DISPATCH, principal, server_state
from ..edits import adjust_stock, create_record, office_patch
from ..journal import office_write
from ..worker import in_thread
from ..i18n import words
from .common import AnyRequest, Page, edit_message, flash, quote_id, render, user_names
from ...storage import blobs as blob_rows
from ...storage import records as store


# --- reference data ---------------------------------------------------------------------------


@get("/data")
async def data_index(request: AnyRequest) -> Page:
    return await render(request, "data_index.html", section="data", forms=refdata.FORMS)


@get("/data/{collection:str}")
async def data_list(request: AnyRequest, collection: FromPath[str]) -> Page:
    form = refdata.form_of(collection)
    state = server_state(request)

    def gather(conn: Any) -> list[tuple[Any, list[refdata.Cell]]]:
        names = jobs.names_of(conn, ("customer", "site", "part"))
        people = user_names(conn)
        records = refdata.list_records(conn, form.entity, limit=100_000)
        return [(record, refdata.list_cells(form, record, names, people)) for record, _ in records]

    rows = await in_thread(lambda: state.db.read(gather))
    headings = [refdata.HEADINGS.get(col) or form.label_of(col) for col in form.columns]
    return await render(request, "data_list.html", section="data", form=form, rows=rows, headings=headings)


def _form_context(conn: Any, form: refdata.EntityForm) -> dict[str, Any]:
    return {"choices": {spec.name: refdata.choices_for(conn, spec.ref) for spec in form.fields if spec.ref}}


@get("/data/{collection:str}/new", opt={"roles": DISPATCH})
async def data_new(request: AnyRequest, collection: FromPath[str]) -> Page:
    form = refdata.form_of(collection)
    state = server_state(request)
    ctx = await in_thread(lambda: state.db.read(lambda c: _form_context(c, form)))
    return await render(
        request,
        "data_form.html",
        section="data",
        form=form,
        record=None,
        version=0,
        values=refdata.form_values(None, form),
        original="{}",
        error="",
        **ctx,
    )


async def _upload(request: AnyRequest, upload: Any) -> tuple[str, int, str, str]:
    """Store an uploaded file in the blob store: (sha256, size, media type, file name)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidValue(N_("choose the drawing's file"), field="file")
    data = await upload.read()
    state, who = server_state(request), principal(request)
    media_type = (upload.content_type or "application/octet-stream")[:200]
    name = Path(upload.filename).name[:200]

    def work() -> tuple[str, int]:
        sha, size = state.blobs.add_bytes(data)
        state.db.write(lambda c: blob_rows.record(c, sha, size, media_type, who.user_id))
        return sha, size

    sha, size = await in_thread(work)
    return sha, size, media_type, name


@post("/data/{collection:str}", opt={"roles": DISPATCH}, status_code=303)
async def data_create(request: AnyRequest, collection: FromPath[str]) -> Page | Redirect:
    form_spec = refdata.form_of(collection)
    form = await request.form()
    state, who = server_state(request), principal(request)
    try:
        values = refdata.parse_form(form_spec, form, form_spec.fields)
        if form_spec.entity == "drawing":
            sha, size, media_type, name = await _upload(request, form.get("file"))
            values.update(sha256=sha, size=size, media_type=media_type, filename=name)
        record = refdata.build_record(form_spec, values)

        def work(conn: Any) -> int:
            for spec in form_spec.fields:
                if spec.ref and not store.exists(conn, spec.ref, values[spec.name]):
                    raise InvalidValue(
                        N_("{label}: no such record: {value}", label=spec.label, value=values[spec.name]),
                        field=spec.name,
                    )
            return create_record(conn, record)

        await in_thread(lambda: office_write(state, who, "office.create", work))
    except ProtocolError as exc:
        if isinstance(exc, (Unauthorized, Forbidden)):
            raise
        ctx = await in_thread(lambda: state.db.read(lambda c: _form_context(c, form_spec)))
        return await render(
            request,
            "data_form.html",
            status=exc.status,
            section="data",
            form=form_spec,
            record=None,
            version=0,
            values={k: str(form.get(k, "")) for k in (f.name for f in form_spec.fields)},
            original="{}",
            error=exc.message,
            **ctx,
        )
    flash(request, N_("{title}: {id} created.", title=form_spec.title, id=record.id))
    return Redirect(f"/office/data/{collection}/{quote_id(record.id)}", status_code=303)


@get("/data/{collection:str}/{record_id:str}")
async def data_edit(request: AnyRequest, collection: FromPath[str], record_id: FromPath[str]) -> Page:
    form = refdata.form_of(collection)
    state = server_state(request)

    data = await in_thread(lambda: state.db.read(lambda c: _record_context(c, form, record_id)))
    values = refdata.form_values(data["record"], form)
    return await render(
        request,
        "data_form.html",
        section="data",
        form=form,
        values=values,
        original=msgspec.json.encode(values).decode(),
        error="",
        **data,
    )


@post("/data/{collection:str}/{record_id:str}", opt={"roles": DISPATCH}, status_code=303)
async def data_update(request: AnyRequest, collection: FromPath[str], record_id: FromPath[str]) -> Page | Redirect:
    form_spec = refdata.form_of(collection)
    form = await request.form()
    state, who = server_state(request), principal(request)
    try:
        if form_spec.entity == "stock":
            delta = refdata.parse_value(str(form.get("delta", "0")), refdata.FieldSpec("delta", N_("Adjust by"), "int"))
            reply = await in_thread(
                lambda: office_write(state, who, "office.stock", lambda c: adjust_stock(c, who, record_id, delta))
            )
        else:
            base = int(str(form.get("_base_version", "0")) or 0)
            rendered = msgspec.json.decode(str(form.get("_original", "{}")) or "{}")
            changes = refdata.changed_fields(form_spec, form, rendered if isinstance(rendered, dict) else {})
            if form_spec.entity == "drawing" and isinstance(form.get("file"), UploadFile) and form.get("file").filename:  # type: ignore[union-attr]
                sha, size, media_type, name = await _upload(request, form.get("file"))
                changes.update(sha256=sha, size=size, media_type=media_type, filename=name)
            reply = await in_thread(
                lambda: office_write(
                    state,
                    who,
                    "office.edit",
                    lambda c: office_patch(c, who, state.clock, form_spec.entity, record_id, base, changes),
                )
            )
    except (ValueError, msgspec.DecodeError):
        return await _refuse_edit(request, form_spec, record_id, form, N_("the form was damaged: reload it"), 400)
    except ProtocolError as exc:
        if isinstance(exc, (Unauthorized, Forbidden)):
            raise
        return await _refuse_edit(request, form_spec, record_id, form, exc.message, exc.status)
    level, message = edit_message(request, reply, f"{words(request, form_spec.title)} {record_id}")
    flash(request, message, level)
    return Redirect(f"/office/data/{collection}/{quote_id(record_id)}", status_code=303)


def _record_context(conn: Any, form: refdata.EntityForm, record_id: str) -> dict[str, Any]:
    """A stored record, the version the form is made from, and what the form needs around it."""
    found = store.get(conn, form.entity, record_id)
    if found is None:
        raise NotFound(N_("no record {id}", id=record_id), field="id")
    return {
        "record": found.record,
        "version": found.version,
        "record_title": refdata.record_title(found.record, jobs.names_of(conn, ("part",)), user_names(conn)),
        **_form_context(conn, form),
    }


async def _refuse_edit(
    request: AnyRequest, form: refdata.EntityForm, record_id: FromPath[str], submitted: Any, error: str, status: int
) -> Page:
    state = server_state(request)

    data = await in_thread(lambda: state.db.read(lambda c: _record_context(c, form, record_id)))
    values = {f.name: str(submitted.get(f.name, "")) for f in form.fields}
    return await render(
        request,
        "data_form.html",
        status=status,
        section="data",
        form=form,
        values=values,
        original=str(submitted.get("_original", "{}")),
        error=error,
        **data,
    )
