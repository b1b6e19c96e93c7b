"""fieldsync's field client: everything an engineer needs offline, and the sync that reconciles it.

>>> from field_client import FieldClient
>>> from sync_protocol import Checkin
>>> client = FieldClient(home)                                   # doctest: +SKIP
>>> client.login("http://127.0.0.1:8000", token="fs_e_...")      # doctest: +SKIP
>>> client.record_event("J-0001", Checkin(note="plant room B2"))  # doctest: +SKIP
>>> client.sync().applied                                        # doctest: +SKIP
1
"""

from .client import FieldClient, default_home
from .errors import (
    ApprovalRequired,
    BackupRequired,
    FieldClientError,
    InvalidAction,
    NotLoggedIn,
    OutOfStep,
    ServerUnreachable,
    StoreUnavailable,
    UnknownRecord,
)
from .report import SyncReport
from .view import EventView
from .version import __version__
from .workbench import Workbench

__all__ = [
    "__version__",
    "FieldClient",
    "Workbench",
    "default_home",
    "SyncReport",
    "EventView",
    "FieldClientError",
    "NotLoggedIn",
    "ServerUnreachable",
    "UnknownRecord",
    "InvalidAction",
    "BackupRequired",
    "ApprovalRequired",
    "StoreUnavailable",
    "OutOfStep",
]
