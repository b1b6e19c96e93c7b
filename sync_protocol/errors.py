"""Typed protocol errors: each carries a code, the offending field, and one HTTP status.

    ProtocolError
    ├── MalformedMessage      400 malformed        body does not decode, or a field has the wrong type
    ├── InvalidValue          422 invalid          decodes, but a value breaks a rule
    ├── Unauthorized          401 unauthorized     no token, unknown token, revoked device
    ├── Forbidden             403 forbidden        the role may not do this
    ├── ScopeViolation        403 scope            outside the caller's scope (another engineer's job)
    ├── NotFound              404 not_found
    ├── SequenceGap           409 seq_gap          push seq not contiguous; ``detail.expected``
    ├── HelloRequired         409 hello_required   a push without hello assumed a mark the server is not at
    ├── CursorReset           409 cursor_reset     cursor unknown: pull again from scratch
    ├── OffsetMismatch        409 offset_mismatch  blob chunk at the wrong offset; ``detail.offset``
    ├── IllegalState          409 illegal_transition  office action the job's status forbids
    ├── TooLarge              413 too_large        body, batch or page over the limit
    ├── RequestTimeout        408 request_timeout  a request without a token sent its body too slowly
    ├── RangeNotSatisfiable   416 range_not_satisfiable  a blob download starting past its end
    ├── ChecksumMismatch      422 sha256_mismatch  blob bytes do not match their name
    ├── UpgradeRequired       426 upgrade_required protocol version not supported
    └── TooManyRequests       429 rate_limited     too many failed sign-ins, or too many strangers at
                                                   once; ``detail.retry_after`` (also ``Retry-After``)

``SyncRejected`` is not an HTTP error: it turns one mutation of a push into a ``rejected``
result with its reason, while the rest of the batch goes on.
Both sides use these: the server raises them, the client rebuilds them from ``ErrorBody``.
"""

from __future__ import annotations

from typing import Any, Literal

from .messages import ErrorBody

# Why one mutation of a push was ``rejected`` (``MutationResult.reason``); docs/protocol.md lists
# them with their meaning, and a test holds the two together.
RejectionReason = Literal[
    "unknown_job",
    "unknown_record",
    "unknown_entity",
    "unknown_equipment",
    "unknown_part",
    "unknown_quote",
    "scope",
    "forbidden",
    "forbidden_field",
    "invalid",
    "clock",
    "id_taken",
]
# ``reason`` of an ``applied`` answer that was not applied now: said for people and logs.
AppliedNote = Literal["duplicate_event", "already_applied"]


class ProtocolError(Exception):
    status: int = 400
    code: str = "error"

    def __init__(self, message: str, field: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def to_body(self) -> ErrorBody:
        # str(): a message with its translation (``i18n.Words``) goes on the wire as plain text
        return ErrorBody(error=self.code, message=str(self.message), field=self.field, detail=self.detail)

    @classmethod
    def from_body(cls, body: ErrorBody) -> "ProtocolError":
        """Rebuild the typed error a server answered with (the client side of the mapping)."""
        klass = _BY_CODE.get(body.error, ProtocolError)
        err = klass(body.message, body.field, **body.detail)
        if klass is ProtocolError:
            err.code = body.error
        return err


class MalformedMessage(ProtocolError):
    status, code = 400, "malformed"


class InvalidValue(ProtocolError):
    status, code = 422, "invalid"


class Unauthorized(ProtocolError):
    status, code = 401, "unauthorized"


class Forbidden(ProtocolError):
    status, code = 403, "forbidden"


class ScopeViolation(ProtocolError):
    status, code = 403, "scope"


class NotFound(ProtocolError):
    status, code = 404, "not_found"


class SequenceGap(ProtocolError):
    status, code = 409, "seq_gap"


class HelloRequired(ProtocolError):
    """A push that skipped hello (``after_seq``) found the server elsewhere, or a stamp hello would
    have corrected: nothing was applied; say hello and push again."""

    status, code = 409, "hello_required"


class CursorReset(ProtocolError):
    status, code = 409, "cursor_reset"


class OffsetMismatch(ProtocolError):
    status, code = 409, "offset_mismatch"


class IllegalState(ProtocolError):
    status, code = 409, "illegal_transition"


class ChecksumMismatch(ProtocolError):
    status, code = 422, "sha256_mismatch"


class TooLarge(ProtocolError):
    status, code = 413, "too_large"


class RangeNotSatisfiable(ProtocolError):
    status, code = 416, "range_not_satisfiable"


class UpgradeRequired(ProtocolError):
    status, code = 426, "upgrade_required"


class RequestTimeout(ProtocolError):
    status, code = 408, "request_timeout"


class TooManyRequests(ProtocolError):
    status, code = 429, "rate_limited"

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait before trying again (``detail.retry_after``)."""
        return int(self.detail.get("retry_after", 1))


_BY_CODE: dict[str, type[ProtocolError]] = {
    k.code: k
    for k in (
        MalformedMessage,
        InvalidValue,
        Unauthorized,
        Forbidden,
        ScopeViolation,
        NotFound,
        SequenceGap,
        HelloRequired,
        CursorReset,
        OffsetMismatch,
        IllegalState,
        ChecksumMismatch,
        TooLarge,
        RangeNotSatisfiable,
        UpgradeRequired,
        RequestTimeout,
        TooManyRequests,
    )
}


class SyncRejected(Exception):
    """One mutation refused: becomes ``MutationResult(status="rejected", reason=..., field=...)``."""

    def __init__(
        self, reason: RejectionReason, message: str, field: str | None = None, rule: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason: RejectionReason = reason
        self.message = message
        self.field = field
        # Which rule refused, where one reason and field cover several (``same_serial``): for the
        # laptop to say it in another language; not sent on the wire.
        self.rule = rule
