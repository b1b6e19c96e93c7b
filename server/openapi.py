"""What ``/schema/openapi.json`` says about the answers and bodies litestar cannot see.

Litestar documents what it decodes and returns itself. Two things it cannot see:

* Every error leaves as a ``sync_protocol.ErrorBody`` (the exception handlers of
  ``server.http_errors`` and ``server.office.api``), one HTTP status per error code
  (``sync_protocol.errors``), not in litestar's own error shape. ``errors(400, 401, ...)`` is
  the ``responses=`` of a route: the statuses it can answer, each an ``ErrorBody``.
* The sync endpoints read their raw body only after authenticating, decode it with
  ``sync_protocol.codec`` (JSON or MessagePack, an error naming the field) and answer in the
  caller's format, so litestar sees neither a body nor a reply type. ``answers(Reply, ...)``
  declares the reply besides the errors; ``sync_operation(Body)`` is the route's
  ``operation_class``: it adds the request body (msgspec's JSON Schema of the Struct, exactly
  what the decoder accepts) and the MessagePack twin of every JSON answer.

These are declarations for the document only: nothing here changes how a request is handled.
``tests/security/test_schemathesis.py`` holds the server to them.

>>> @post(sync_path("hello"), responses=answers(HelloReply, 400, 401, 413, 426),
...       operation_class=sync_operation(Hello))      # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Sequence

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)

from sync_protocol import JSON, MSGPACK, ErrorBody, ProtocolError

from .blobstore import SHA256_RE

__all__ = [
    "OCTETS",
    "OFFICE",
    "OFFICE_BODY",
    "SHA256_PATH",
    "answers",
    "errors",
    "header",
    "json_schema",
    "query",
    "sync_operation",
]

OCTETS = "application/octet-stream"
# Every /api/v1 call can meet a bad parameter, no token, or a role it is not for (the guard);
# one with a body can be too large for the server or break a rule of the data.
OFFICE = (400, 401, 403)
OFFICE_BODY = (*OFFICE, 413, 422)


def _codes_by_status() -> dict[int, list[str]]:
    codes: dict[int, list[str]] = {}
    pending = list(ProtocolError.__subclasses__())
    while pending:
        kind = pending.pop(0)
        codes.setdefault(kind.status, []).append(kind.code)
        pending += kind.__subclasses__()
    return codes


_CODES = _codes_by_status()


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers of a route: an ``ErrorBody`` for each status, naming its codes."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            generate_examples=False,
            media_type=JSON,
            description=f"{HTTPStatus(status).phrase}: an ErrorBody whose `error` is "
            f"{' or '.join(f'`{code}`' for code in _CODES.get(status, ['error']))}; "
            "`field` names the offending field or parameter",
        )
        for status in sorted(statuses)
    }


def answers(
    reply: Any, *statuses: int, status: int = 200, media_type: str = JSON, description: str = "Request fulfilled"
) -> dict[int, ResponseSpec]:
    """A route's reply (for handlers that return bytes they encoded themselves) and its errors."""
    return {
        status: ResponseSpec(
            data_container=reply, generate_examples=False, media_type=media_type, description=description
        ),
        **errors(*statuses),
    }


# --- the sync endpoints' bodies and parameters ------------------------------------------------


def json_schema(kind: Any) -> dict[str, Any]:
    """msgspec's JSON Schema of ``kind`` with its ``$defs`` written in place: inside an OpenAPI
    document a ``#/...`` reference would resolve against the document, not this schema."""
    root = msgspec.json.schema(kind)
    defs: dict[str, Any] = root.pop("$defs", {})

    def inline(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                raise ValueError(f"{kind!r} is recursive through {name}: it cannot be inlined")
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return {**inline(defs[name], seen | {name}), **inline(rest, seen)}
        return {key: inline(value, seen) for key, value in node.items()}

    return inline(root, frozenset())  # type: ignore[no-any-return]


def query(name: str, schema: Schema, required: bool = True, description: str | None = None) -> Parameter:
    return Parameter(name=name, param_in="query", schema=schema, required=required, description=description)


def header(name: str, schema: Schema, description: str | None = None) -> Parameter:
    return Parameter(name=name, param_in="header", schema=schema, required=False, description=description)


SHA256_PATH = Parameter(
    name="sha256",
    param_in="path",
    required=True,
    schema=Schema(type=OpenAPIType.STRING, pattern=SHA256_RE.pattern),
    description="the blob's name: the lower-case hex SHA-256 of its bytes",
)


def _twin(response: OpenAPIResponse) -> OpenAPIResponse:
    """The answer also in MessagePack: a sync endpoint answers in the caller's format."""
    content = response.content or {}
    if JSON not in content or MSGPACK in content:
        return response
    return replace(response, content={**content, MSGPACK: content[JSON]})


def sync_operation(
    body: Any = None,
    *,
    example: msgspec.Struct | None = None,
    media_type: str | None = None,
    parameters: Sequence[Parameter] = (),
    description: str | None = None,
) -> type[Operation]:
    """The ``operation_class`` of a sync route: ``body`` (a Struct, read in JSON or MessagePack,
    with an ``example`` of it; or, with ``media_type``, raw bytes of that type), ``parameters``
    the handler reads itself after authenticating (they replace litestar's of the same name),
    and every JSON answer documented in MessagePack too."""
    request_body: RequestBody | None = None
    if body is not None and media_type is None:
        schema: Any = json_schema(body)  # a plain JSON Schema dict: litestar serialises it as is
        sample = None if example is None else msgspec.to_builtins(example)
        request_body = RequestBody(
            required=True,
            description=description,
            content={fmt: OpenAPIMediaType(schema=schema, example=sample) for fmt in (JSON, MSGPACK)},
        )
    elif media_type is not None:
        request_body = RequestBody(
            required=True,
            description=description,
            content={media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))},
        )
    declared = {(p.name, p.param_in): p for p in parameters}

    @dataclass
    class SyncOperation(Operation):
        def __post_init__(self) -> None:
            if request_body is not None:
                self.request_body = request_body
            generated = [
                p for p in self.parameters or [] if not isinstance(p, Parameter) or (p.name, p.param_in) not in declared
            ]
            self.parameters = [*generated, *declared.values()] or None
            self.responses = {
                status: _twin(r) if isinstance(r, OpenAPIResponse) else r
                for status, r in (self.responses or {}).items()
            }

    return SyncOperation
