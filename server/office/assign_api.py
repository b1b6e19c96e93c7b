"""``POST /api/v1/jobs/{job_id}/assign``: the one office action the sync protocol specifies
(docs/protocol.md, "Assign"), so it speaks the protocol's formats (MessagePack or JSON, answered
in the caller's) rather than the office API's JSON only. It is an office write like any other:
one transaction, chained in the audit log by ``journal.office_write``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.params import FromPath

from sync_protocol import AssignReply, AssignRequest

from .. import assign
from ..http import caller, in_thread, read_body, reply, state_of
from ..openapi import answers, sync_operation
from .access import DISPATCH, check_role
from .journal import office_write


@post(
    "/api/v1/jobs/{job_id:str}/assign",
    status_code=200,
    tags=["office"],
    responses=answers(AssignReply, 400, 401, 403, 404, 409, 413, 422),
    operation_class=sync_operation(AssignRequest, example=AssignRequest(assignee="li-wei")),
)
async def assign_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> Response[bytes]:
    who = check_role(await caller(request), DISPATCH)  # before a byte of the body is read
    body = await read_body(request, AssignRequest)
    state = state_of(request)
    return reply(
        request,
        await in_thread(
            lambda: office_write(
                state,
                who,
                "office.assign",
                lambda c: assign.assign(c, who, job_id, body.assignee, state.clock),
                primary=("job", job_id),
                ref=f"to {body.assignee}",
            )
        ),
    )
