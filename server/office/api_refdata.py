"""``/api/v1/{customers,sites,equipment,drawings,parts,stock}``: reference data for integrations.

One set of handlers per collection, made by a factory so that each carries its own record type
(the OpenAPI schema then shows a ``Site`` body for sites, not an untyped map). Reads return
records with their ``version``; creating takes the record; editing takes a ``RecordEdit``
(``base_version`` + fields) and goes through the laptops' merge path, so an edit that meets a
laptop's offline edit is merged or lands in the conflict queue. Drawings are created from a file
already uploaded to the blob store; stock rows change only by deltas.

(No ``from __future__ import annotations`` here: the handlers' annotations must be the real
classes, which differ per collection.)
"""

from typing import Any

from litestar import Request, get, patch, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody

from sync_protocol import Customer, Drawing, Equipment, InvalidValue, NotFound, Part, Site, Stock
from sync_protocol.office import DrawingCreate, EditReply, RecordEdit, StockAdjust, StockCreate, VersionedRecord

from ..openapi import OFFICE, OFFICE_BODY, errors
from .access import DISPATCH, principal, server_state
from .edits import adjust_stock, create_record, office_patch
from .journal import office_write
from .refdata import list_records
from .worker import in_thread
from ..storage import blobs as blob_rows
from ..storage import records as store


def _get(state: Any, entity: str, record_id: FromPath[str]) -> VersionedRecord:
    found = state.db.read(lambda c: store.get(c, entity, record_id))
    if found is None:
        raise NotFound(f"no {entity} {record_id}", field="id")
    return VersionedRecord(version=found.version, record=found.record)


def _readers(collection: FromPath[str], entity: str) -> list[HTTPRouteHandler]:
    @get(
        f"/{collection}",
        summary=f"List {collection} (optionally of one parent record)",
        operation_id=f"list_{collection}",
        responses=errors(*OFFICE),
    )
    async def list_all(request: Request, parent: FromQuery[str | None] = None) -> list[VersionedRecord]:
        state = server_state(request)
        rows = await in_thread(lambda: state.db.read(lambda c: list_records(c, entity, parent, limit=100_000)))
        return [VersionedRecord(version=v, record=r) for r, v in rows]

    @get(
        f"/{collection}/{{record_id:str}}",
        summary=f"One of the {collection}",
        operation_id=f"get_{collection}",
        responses=errors(*OFFICE, 404),
    )
    async def get_one(request: Request, record_id: FromPath[str]) -> VersionedRecord:
        state = server_state(request)
        return await in_thread(lambda: _get(state, entity, record_id))

    return [list_all, get_one]


def _editor(collection: FromPath[str], entity: str) -> HTTPRouteHandler:
    @patch(
        f"/{collection}/{{record_id:str}}",
        opt={"roles": DISPATCH},
        operation_id=f"edit_{collection}",
        responses=errors(*OFFICE_BODY, 404),
        summary=f"Edit one of the {collection}: fields changed since base_version, merged like a laptop's edit",
    )
    async def edit(request: Request, record_id: FromPath[str], data: JSONBody[RecordEdit]) -> EditReply:
        state, who = server_state(request), principal(request)
        return await in_thread(
            lambda: office_write(
                state,
                who,
                "office.edit",
                lambda c: office_patch(c, who, state.clock, entity, record_id, data.base_version, dict(data.fields)),
            )
        )

    return edit


def _creator(collection: FromPath[str], kind: type, parent: tuple[str, str] | None) -> HTTPRouteHandler:
    async def create(request: Request, data: JSONBody[Any]) -> VersionedRecord:
        state, who = server_state(request), principal(request)
        entity = kind.__struct_config__.tag

        def work(conn: Any) -> int:
            if parent is not None:
                _need_parent(conn, parent[0], getattr(data, parent[1]), parent[1])
            return create_record(conn, data)

        version = await in_thread(lambda: office_write(state, who, "office.create", work))
        return VersionedRecord(version=version, record=_get(state, entity, data.id).record)

    create.__annotations__["data"] = JSONBody[kind]
    return post(
        f"/{collection}",
        status_code=201,
        opt={"roles": DISPATCH},
        operation_id=f"create_{collection}",
        responses=errors(*OFFICE_BODY),
        summary=f"Create one of the {collection}",
    )(create)


@post(
    "/drawings",
    status_code=201,
    opt={"roles": DISPATCH},
    operation_id="create_drawings",
    responses=errors(*OFFICE_BODY),
    summary="Create a drawing from a file uploaded first with PUT /sync/v1/blobs/{sha256}",
)
async def create_drawing(request: Request, data: JSONBody[DrawingCreate]) -> VersionedRecord:
    state, who = server_state(request), principal(request)

    def work() -> VersionedRecord:
        blob = state.db.read(lambda c: blob_rows.info(c, data.sha256))
        if blob is None or not state.blobs.has(data.sha256):
            raise InvalidValue("upload the file first (PUT /sync/v1/blobs/{sha256})", field="sha256")
        drawing = Drawing(
            id=data.id,
            site_id=data.site_id,
            title=data.title,
            kind=data.kind,
            filename=data.filename,
            media_type=blob["media_type"] or "application/octet-stream",
            sha256=data.sha256,
            size=blob["size"],
        )
        office_write(state, who, "office.create", lambda c: _create_child(c, drawing, "site", data.site_id))
        return _get(state, "drawing", data.id)

    return await in_thread(work)


@post(
    "/stock",
    status_code=201,
    opt={"roles": DISPATCH},
    operation_id="create_stock",
    responses=errors(*OFFICE_BODY),
    summary="Create a stock row (id = location|sku)",
)
async def create_stock(request: Request, data: JSONBody[StockCreate]) -> VersionedRecord:
    state, who = server_state(request), principal(request)
    row = Stock(id=f"{data.location}|{data.sku}", location=data.location, sku=data.sku, qty=data.qty)

    def work() -> VersionedRecord:
        office_write(state, who, "office.create", lambda c: _create_child(c, row, "part", data.sku))
        return _get(state, "stock", row.id)

    return await in_thread(work)


@post(
    "/stock/{record_id:str}/adjust",
    status_code=200,
    opt={"roles": DISPATCH},
    operation_id="adjust_stock",
    responses=errors(*OFFICE_BODY, 404),
    summary="Goods received (+) or issued (-): a delta that commutes with the laptops' part swaps",
)
async def adjust(request: Request, record_id: FromPath[str], data: JSONBody[StockAdjust]) -> EditReply:
    state, who = server_state(request), principal(request)
    return await in_thread(
        lambda: office_write(state, who, "office.stock", lambda c: adjust_stock(c, who, record_id, data.delta))
    )


def _need_parent(conn: Any, entity: str, record_id: FromPath[str], field: str) -> None:
    if not store.exists(conn, entity, record_id):
        raise InvalidValue(f"no {entity} {record_id}", field=field)


def _create_child(conn: Any, record: Any, parent_entity: str, parent_id: str) -> int:
    _need_parent(conn, parent_entity, parent_id, "sku" if parent_entity == "part" else f"{parent_entity}_id")
    return create_record(conn, record)


def refdata_handlers() -> list[HTTPRouteHandler]:
    handlers: list[HTTPRouteHandler] = []
    for collection, entity, kind, parent in (
        ("customers", "customer", Customer, None),
        ("sites", "site", Site, ("customer", "customer_id")),
        ("equipment", "equipment", Equipment, ("site", "site_id")),
        ("parts", "part", Part, None),
    ):
        handlers += [*_readers(collection, entity), _creator(collection, kind, parent), _editor(collection, entity)]
    handlers += [*_readers("drawings", "drawing"), create_drawing, _editor("drawings", "drawing")]
    handlers += [*_readers("stock", "stock"), create_stock, adjust]
    return handlers
