"""fieldsync's sync protocol: wire messages, records, clocks and merge rules. Pure: no I/O.

Both ``server`` and ``field_client`` import this package; it imports neither.

>>> from sync_protocol import PullRequest, encode, decode, MSGPACK
>>> decode(encode(PullRequest(cursor=None, limit=5)), PullRequest, MSGPACK)
PullRequest(cursor=None, limit=5)
"""

from .codec import JSON, MSGPACK, MSGPACK_ALIASES, decode, encode, field_of, format_of
from .errors import (
    ChecksumMismatch, CursorReset, Forbidden, IllegalState, InvalidValue, MalformedMessage,
    NotFound, OffsetMismatch, ProtocolError, RangeNotSatisfiable, RequestTimeout, ScopeViolation,
    SequenceGap, SyncRejected, TooLarge, TooManyRequests, Unauthorized, UpgradeRequired,
)
from .events import (
    EVENT_KINDS, REPAIR_KINDS, Backup, Checkin, CustomerApproval, Diagnosis, EventPayload,
    Loaner, Note, PartSwap, Photo, Quote, QuoteLine, Resolution, Signature, Test, kind_of,
)
from .hashing import canonical_bytes, record_hash, sheet_events, sheet_hash
from .hlc import Clock, ClockDriftError
from .ids import is_uuid, uuid7
from .merge import FieldConflict, FieldVersion, MergeOutcome, Writer, merge_fields, owner, stock_after
from .messages import (
    BLOB_CHUNK_BYTES, DEFAULT_PULL_PAGE, MAX_BODY_BYTES, MAX_PULL_PAGE, MAX_PUSH_BATCH,
    PROTOCOL_VERSION,
    SUPPORTED_PROTOCOL_VERSIONS, AppendEvent, AssignReply, AssignRequest, BlobStatus, Change,
    EnrollReply, EnrollRequest, ErrorBody, Hello, HelloReply, Limits, Mutation, MutationResult,
    PatchRecord, PullPage, PullRequest, PushReply, PushRequest, Remove, Upsert,
)
from .records import (
    ENTITIES, ENTITY_TYPES, Conflict, Customer, Drawing, Equipment, Job, JobEvent, Part, Party,
    Record, Site, Stock, entity_of, from_builtins, stock_id, to_builtins, van,
)
from .signatures import (
    SignatureCheck, changes_in_words, check_signature, event_in_words, signature_in_words,
)
from .states import IllegalTransition, after_event, office_action

__all__ = [
    "JSON", "MSGPACK", "MSGPACK_ALIASES", "decode", "encode", "field_of", "format_of",
    "ChecksumMismatch", "CursorReset", "Forbidden", "IllegalState", "InvalidValue",
    "MalformedMessage", "NotFound", "OffsetMismatch", "ProtocolError", "RangeNotSatisfiable",
    "RequestTimeout", "ScopeViolation", "SequenceGap", "SyncRejected", "TooLarge", "TooManyRequests",
    "Unauthorized", "UpgradeRequired",
    "EVENT_KINDS", "REPAIR_KINDS", "Backup", "Checkin", "CustomerApproval", "Diagnosis",
    "EventPayload", "Loaner", "Note", "PartSwap", "Photo", "Quote", "QuoteLine", "Resolution",
    "Signature", "Test", "kind_of",
    "canonical_bytes", "record_hash", "sheet_events", "sheet_hash",
    "Clock", "ClockDriftError", "is_uuid", "uuid7",
    "FieldConflict", "FieldVersion", "MergeOutcome", "Writer", "merge_fields", "owner", "stock_after",
    "BLOB_CHUNK_BYTES", "DEFAULT_PULL_PAGE", "MAX_BODY_BYTES", "MAX_PULL_PAGE", "MAX_PUSH_BATCH",
    "PROTOCOL_VERSION",
    "SUPPORTED_PROTOCOL_VERSIONS", "AppendEvent", "AssignReply", "AssignRequest", "BlobStatus",
    "Change", "EnrollReply", "EnrollRequest", "ErrorBody", "Hello", "HelloReply", "Limits",
    "Mutation", "MutationResult", "PatchRecord", "PullPage", "PullRequest", "PushReply",
    "PushRequest", "Remove", "Upsert",
    "ENTITIES", "ENTITY_TYPES", "Conflict", "Customer", "Drawing", "Equipment", "Job", "JobEvent",
    "Part", "Party", "Record", "Site", "Stock", "entity_of", "from_builtins", "stock_id",
    "to_builtins", "van",
    "SignatureCheck", "changes_in_words", "check_signature", "event_in_words", "signature_in_words",
    "IllegalTransition", "after_event", "office_action",
]
