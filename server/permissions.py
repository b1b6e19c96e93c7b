"""Who may write what: one rule set for every path into the store.

Push, the office API and its forms, assign and blob uploads all ask here, so a role that may not
write something through the office may not write it through push either:

- **engineers** record events on the jobs they hold and patch only the observed facts of the
  sites and equipment in their scope (``merge.FIELD_OWNED``, checked by ``sync_protocol.checks``
  for the ``field`` side); scope is ``scopes.py``'s;
- **dispatchers and admins** patch what the office may (``merge.OFFICE_PATCHABLE``, checked by
  ``sync_protocol.checks`` for the ``office`` side): reference data, and of a job only its fault
  and severity. Assignment, cancelling and stock movements
  are actions with their own rules (``assign.py``, ``office/jobs.py``, ``office/edits.py``),
  never a patch. Job events are facts recorded on site: the office records none;
- **supervisors** read and audit: they change no record, anywhere. What they write is their
  own: the review of a backup-audit finding (``REVIEW``: supervisors and admins), a server-side
  note that is no record and reaches no laptop.

Refusals are typed: a push turns them into a ``rejected`` answer naming the field, the office
API into ``403``/``422``.
"""

from __future__ import annotations

from sync_protocol import Forbidden, SyncRejected

from .auth import Principal

READ = frozenset({"dispatcher", "supervisor", "admin"})
DISPATCH = frozenset({"dispatcher", "admin"})
AUDIT = frozenset({"supervisor", "admin"})
# Who may mark an audit finding reviewed: those who audit.
REVIEW = AUDIT
_WHAT = {DISPATCH: "dispatchers", AUDIT: "supervisors", READ: "office staff"}


def check_role(principal: Principal, roles: frozenset[str]) -> Principal:
    """The office API's guard and every other role check: ``403 forbidden`` (field ``role``)."""
    if principal.role not in roles:
        raise Forbidden(
            f"this is for {_WHAT.get(roles, ', '.join(sorted(roles)))}; {principal.display_name} is {principal.role}",
            field="role",
        )
    return principal


def may_write(principal: Principal) -> bool:
    """Engineers (in their scope) and dispatchers write; supervisors only read."""
    return principal.is_engineer or principal.role in DISPATCH


def check_upload(principal: Principal) -> None:
    """A file goes up with the work or the reference data that names it: not from a supervisor."""
    if not may_write(principal):
        raise Forbidden(f"{principal.display_name} is {principal.role}: supervisors upload no files", field="role")


def check_event(principal: Principal) -> None:
    """Job events are facts recorded on site, by engineers; no office role records them."""
    if not principal.is_engineer:
        raise SyncRejected(
            "forbidden",
            f"{principal.display_name} is {principal.role}: job events are recorded on site by engineers",
            field="role",
        )


def check_writer(principal: Principal) -> None:
    """A push's patch from a supervisor is refused whole (``forbidden``, field ``role``); which
    fields the other roles may change is ``sync_protocol.checks.check_patch``'s rule, by side."""
    if not may_write(principal):
        raise SyncRejected(
            "forbidden", f"{principal.display_name} is {principal.role}: supervisors change nothing", field="role"
        )
