"""Who is calling, and the roles there are: a plain value every layer may import.

It lives apart from ``auth`` (which reads users and devices through the storage package) so
that the storage package can take a ``Principal`` to compute scopes without importing ``auth``
back: no import cycle (tests/test_architecture.py).
"""

from __future__ import annotations

from typing import NamedTuple

ROLES = ("engineer", "dispatcher", "supervisor", "admin")
OFFICE_ROLES = frozenset({"dispatcher", "supervisor", "admin"})


class Principal(NamedTuple):
    """Who is calling: resolved from the bearer token on every request."""

    user_id: str
    user_name: str
    display_name: str
    role: str
    device_id: str

    @property
    def is_engineer(self) -> bool:
        return self.role == "engineer"
