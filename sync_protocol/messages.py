"""Wire messages of the sync protocol, version 1: one Struct per message.

``docs/protocol.md`` specifies how they are exchanged; this module is what both sides
encode and decode. Every message is valid in MessagePack and in JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta

from .bounds import MAX_BYTES, MAX_PATCH_FIELDS
from .records import JobEvent, Record
from .types import Hlc, Id, Name

PROTOCOL_VERSION = 1
SUPPORTED_PROTOCOL_VERSIONS = frozenset({1})


def sync_path(name: str) -> str:
    """The HTTP path of a sync endpoint (``hello``, ``blobs/...``): every one names the protocol
    version, so a server that no longer speaks a client's refuses it at its first request."""
    return f"/sync/v{PROTOCOL_VERSION}/{name}"


# Limits the server enforces; ``HelloReply.limits`` tells the client the values in force.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PUSH_BATCH = 5_000
MAX_PULL_PAGE = 5_000
DEFAULT_PULL_PAGE = 2_000
BLOB_CHUNK_BYTES = 4 * 1024 * 1024

Seq = Annotated[int, Meta(ge=1, le=2**53)]


class _Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


# --- enrollment and hello -------------------------------------------------------------------


class EnrollRequest(_Message):
    """Exchange a one-time enrollment token for a device token (``field login``)."""

    enrollment_token: Annotated[str, Meta(min_length=1, max_length=200)]
    device_name: Name = ""
    platform: Name = ""


class EnrollReply(_Message):
    device_id: Id
    device_token: str
    user_id: Id
    user_name: Name
    role: str


class Hello(_Message):
    protocol_version: int
    client_version: Name = ""
    schema_version: int = 1


class Limits(msgspec.Struct, kw_only=True, frozen=True):
    """The limits in force; every field is always sent (a client meeting an older server that
    left them out uses these defaults)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_push_batch: int = MAX_PUSH_BATCH
    max_pull_page: int = MAX_PULL_PAGE
    blob_chunk_bytes: int = BLOB_CHUNK_BYTES


class HelloReply(msgspec.Struct, kw_only=True):
    """Every field is always sent, ``limits`` whole included (no ``omit_defaults`` here)."""

    protocol_version: int
    server_version: str
    schema_version: int
    device_id: Id
    user_id: Id
    user_name: Name
    role: str
    # The highest seq the server has applied for this device, and the ``hlc`` of the mutation
    # applied there (None before the first): a client whose store was restored from an older
    # copy learns from them that its outbox must be renumbered (docs/protocol.md, "Renumbering").
    high_seq: int
    server_hlc: Hlc
    limits: Limits = Limits()
    high_hlc: Hlc | None = None


# --- push -----------------------------------------------------------------------------------


class _Mutation(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="op", gc=False):
    seq: Seq
    hlc: Hlc


class AppendEvent(_Mutation, tag="event", kw_only=True):
    """Add one job event. Events are facts: never edited, never merged, only added."""

    event: JobEvent


class PatchRecord(_Mutation, tag="patch", kw_only=True):
    """Change some fields of a record, made on top of ``base_version`` (three-way merge)."""

    entity: Name
    id: Id
    base_version: Annotated[int, Meta(ge=0, le=MAX_BYTES)]
    fields: Annotated[dict[Name, Any], Meta(max_length=MAX_PATCH_FIELDS)]


Mutation = Union[AppendEvent, PatchRecord]

Status = Literal["applied", "merged", "conflict", "rejected"]


class MutationResult(_Message):
    seq: int
    status: Status
    reason: str | None = None  # machine-readable, for ``rejected`` (and ``duplicate``)
    field: str | None = None  # the offending field, when there is one
    message: str = ""  # for people
    version: int | None = None  # the record's server version after this mutation
    conflicts: list[Id] = []  # ids of conflict records this mutation produced


class PushRequest(_Message):
    mutations: Annotated[list[Mutation], Meta(max_length=MAX_PUSH_BATCH)]
    # A push without hello names the mark the laptop last learnt from a push answer; the server
    # answers 409 hello_required unless it stands exactly there (docs/protocol.md, push).
    after_seq: Annotated[int, Meta(ge=0, le=2**53)] | None = None
    after_hlc: Hlc | None = None
    # The laptop keeps each event this push appends, at the version its answer gives: the pulls
    # that follow do not send them back (docs/protocol.md, push, "Events the laptop keeps").
    keeps_events: bool = False
    # Pull in the same exchange: the answer carries the page after this push's own effects
    # (docs/protocol.md, push, "A pull in the push answer"). ``prefetch`` is refused here.
    pull: PullRequest | None = None


class PushReply(_Message):
    results: list[MutationResult]
    high_seq: int
    server_hlc: Hlc
    high_hlc: Hlc | None = None  # the hlc of the mutation at ``high_seq``; servers that omit it take no ``after_seq``
    pull: PullPage | None = None  # the page ``PushRequest.pull`` asked for; absent: pull as usual


# --- pull -----------------------------------------------------------------------------------


class PullRequest(_Message):
    cursor: Annotated[str, Meta(max_length=200)] | None = None
    # Over ``MAX_PULL_PAGE`` is a limit broken (413 too_large), checked by the server itself.
    limit: Annotated[int, Meta(ge=1)] = DEFAULT_PULL_PAGE
    # ``cursor`` is the page the client is still committing: answer the next one meanwhile.
    prefetch: bool = False


class _Change(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="op", gc=False):
    pass


class Upsert(_Change, tag="upsert", kw_only=True):
    version: int
    record: Record


class Remove(_Change, tag="remove", kw_only=True):
    entity: Name
    id: Id
    reason: Literal["deleted", "left_scope"]


Change = Union[Upsert, Remove]


class PullPage(_Message):
    changes: list[Change]
    cursor: str
    more: bool
    server_hlc: Hlc


# --- the same messages with their records left encoded ----------------------------------------
# A pull page of thousands of records is spliced from the JSON the server stores, and a laptop
# keeps each record as the bytes it received; a push splices the mutations the outbox stored
# encoded. These are ``PullPage``, ``Upsert`` and ``PushRequest`` on the wire, byte for byte:
# only the Python side leaves the inner values as ``msgspec.Raw`` (JSON bytes in JSON, MessagePack
# bytes in MessagePack).


class SplicedUpsert(_Change, tag="upsert", kw_only=True):
    version: int
    record: msgspec.Raw


class SplicedPullPage(_Message):
    changes: list[Union[SplicedUpsert, Remove]]
    cursor: str
    more: bool
    server_hlc: Hlc


class SplicedPushRequest(_Message):
    mutations: list[msgspec.Raw]
    after_seq: int | None = None
    after_hlc: Hlc | None = None
    keeps_events: bool = False
    pull: PullRequest | None = None


class SplicedPushReply(_Message):
    """``PushReply`` with its page left encoded (``msgspec.Raw``: the server splices the page it
    encoded as a pull's; the laptop reads each record's bytes through ``SplicedPullPage``)."""

    results: list[MutationResult]
    high_seq: int
    server_hlc: Hlc
    high_hlc: Hlc | None = None
    pull: msgspec.Raw | None = None


# --- blobs ----------------------------------------------------------------------------------


class BlobStatus(_Message):
    sha256: str
    size: int | None = None
    offset: int = 0
    complete: bool = False


# --- office ---------------------------------------------------------------------------------


class AssignRequest(_Message):
    assignee: Id


class AssignReply(_Message):
    job_id: Id
    assignee: Id
    status: str
    version: int


# --- errors ---------------------------------------------------------------------------------


class ErrorBody(_Message):
    """Every error answer: a code to branch on, the field at fault, a sentence for people."""

    error: str
    message: str
    field: str | None = None
    detail: dict[str, Any] = {}
