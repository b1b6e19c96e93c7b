"""What can go wrong on the laptop, as precise exception types.

    FieldClientError
    ├── NotLoggedIn          the laptop has no device token yet: run ``field login``
    ├── ServerUnreachable    no answer after every retry (offline, server down, timeouts)
    ├── UnknownRecord        the job, equipment or record is not on this laptop
    ├── InvalidAction        a local rule refuses the action (``field`` names the input at fault)
    │   ├── BackupRequired   repair work on a job with no verified backup and no acknowledgement
    │   └── ApprovalRequired paid work (out of warranty, wear part) before the customer approved
    ├── StoreUnavailable     the laptop's disk is full or its store read-only: nothing was written
    └── OutOfStep            the laptop's outbox and the server's sequence disagree

Refusals from the server arrive as the protocol's own typed errors (``sync_protocol.errors``:
``Unauthorized``, ``UpgradeRequired``, ``ScopeViolation``, ...), rebuilt from its ``ErrorBody``.
"""

from __future__ import annotations


class FieldClientError(Exception):
    """Base of the errors the field client raises itself."""

    def __init__(self, message: str, field: str | None = None, code: str | None = None, **facts: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Which refusal of several on one field, and the facts in its message: for saying it
        # in another language (the laptop app) without reading the English.
        self.code = code
        self.facts = facts


class NotLoggedIn(FieldClientError):
    pass


class ServerUnreachable(FieldClientError):
    pass


class UnknownRecord(FieldClientError):
    pass


class InvalidAction(FieldClientError):
    pass


class BackupRequired(InvalidAction):
    pass


class ApprovalRequired(InvalidAction):
    pass


class StoreUnavailable(FieldClientError):
    pass


class OutOfStep(FieldClientError):
    pass
