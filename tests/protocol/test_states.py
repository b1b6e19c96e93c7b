"""Job state machine: office actions (allowed or IllegalTransition) and engineer events."""

from __future__ import annotations

import typing

import pytest

from sync_protocol.states import (
    AWAITING_VISIT,
    BOARD_ORDER,
    CLOSED_TO_WORK,
    DONE_STATUSES,
    FIELD_WORK,
    IN_FIELD_SCOPE,
    OFFICE_ACTIONS,
    OPEN_STATUSES,
    STATUSES,
    IllegalTransition,
    Transition,
    after_event,
    office_action,
)
from sync_protocol.records import Job


def test_statuses_match_the_record_type() -> None:
    assert set(STATUSES) == set(typing.get_args(typing.get_type_hints(Job)["status"]))
    for named in (OPEN_STATUSES, IN_FIELD_SCOPE, FIELD_WORK, DONE_STATUSES, CLOSED_TO_WORK, AWAITING_VISIT):
        assert named <= set(STATUSES)
    assert set(BOARD_ORDER) == set(STATUSES) and len(BOARD_ORDER) == len(STATUSES)


def test_the_sets_say_what_their_names_say() -> None:
    # Every job is either still open or done, never both.
    assert OPEN_STATUSES | DONE_STATUSES == set(STATUSES) and not OPEN_STATUSES & DONE_STATUSES
    # A job on the laptop that still needs the engineer is open; a resolved one stays on it.
    assert FIELD_WORK == IN_FIELD_SCOPE - DONE_STATUSES and "resolved" in IN_FIELD_SCOPE
    # A new job is nobody's yet; cancelled and closed ones are off every laptop.
    assert not ({"new", "cancelled", "closed"} & IN_FIELD_SCOPE)
    assert AWAITING_VISIT == OPEN_STATUSES - {"on_site"}


@pytest.mark.parametrize("action", sorted(OFFICE_ACTIONS))
@pytest.mark.parametrize("status", STATUSES)
def test_office_action_follows_its_table(action: str, status: str) -> None:
    allowed, target = OFFICE_ACTIONS[action]
    assert target in STATUSES
    if status in allowed:
        assert office_action(status, action) == target
    else:
        with pytest.raises(IllegalTransition, match=f"cannot {action} a job that is {status}"):
            office_action(status, action)


@pytest.mark.parametrize(
    "status, action, target",
    [
        ("new", "assign", "assigned"),
        ("escalated", "assign", "assigned"),
        ("on_site", "assign", "assigned"),
        ("new", "cancel", "cancelled"),
        ("on_site", "cancel", "cancelled"),
        ("resolved", "close", "closed"),
        ("cancelled", "reopen", "assigned"),
        ("closed", "reopen", "assigned"),
        ("escalated", "reopen", "assigned"),
    ],
)
def test_allowed_office_actions(status: str, action: str, target: str) -> None:
    assert office_action(status, action) == target


@pytest.mark.parametrize(
    "status, action",
    [
        ("closed", "cancel"),
        ("cancelled", "close"),
        ("closed", "assign"),
        ("new", "close"),
        ("on_site", "close"),
        ("assigned", "reopen"),
        ("new", "reopen"),
        ("cancelled", "cancel"),
        ("resolved", "assign"),
        ("resolved", "cancel"),
    ],
)
def test_forbidden_office_actions(status: str, action: str) -> None:
    with pytest.raises(IllegalTransition):
        office_action(status, action)


def test_illegal_transition_is_value_error_and_unknown_action_raises() -> None:
    assert issubclass(IllegalTransition, ValueError)
    with pytest.raises(KeyError):
        office_action("new", "teleport")


@pytest.mark.parametrize("status", ["new", "assigned", "escalated"])
def test_checkin_moves_to_on_site(status: str) -> None:
    assert after_event(status, "checkin", assigned_to_author=True) == Transition("on_site", None)


@pytest.mark.parametrize("status", ["on_site", "resolved"])
def test_checkin_elsewhere_keeps_status(status: str) -> None:
    assert after_event(status, "checkin", assigned_to_author=True) == Transition(status, None)


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES | {"resolved"}))
@pytest.mark.parametrize("outcome", ["resolved", "escalated"])
def test_resolution_sets_outcome(status: str, outcome: str) -> None:
    assert after_event(status, "resolution", True, outcome=outcome) == Transition(outcome, None)


def test_resolution_without_outcome_keeps_status() -> None:
    assert after_event("on_site", "resolution", True) == Transition("on_site", None)


@pytest.mark.parametrize("kind", ["backup", "diagnosis", "part_swap", "note", "test", "signature"])
@pytest.mark.parametrize("status", sorted(OPEN_STATUSES | {"resolved"}))
def test_other_events_keep_status(kind: str, status: str) -> None:
    assert after_event(status, kind, assigned_to_author=True) == Transition(status, None)


@pytest.mark.parametrize("status", ["cancelled", "closed"])
@pytest.mark.parametrize("kind, outcome", [("checkin", None), ("part_swap", None), ("resolution", "resolved")])
@pytest.mark.parametrize("assigned", [True, False])
def test_work_on_cancelled_or_closed_job_is_kept_but_flagged(status, kind, outcome, assigned) -> None:
    result = after_event(status, kind, assigned_to_author=assigned, outcome=outcome)
    assert result == Transition(status, f"work recorded on a {status} job")


@pytest.mark.parametrize("status", sorted(OPEN_STATUSES | {"resolved"}))
@pytest.mark.parametrize("kind, outcome", [("checkin", None), ("resolution", "resolved"), ("note", None)])
def test_work_by_unassigned_engineer_is_flagged_and_does_not_move(status, kind, outcome) -> None:
    result = after_event(status, kind, assigned_to_author=False, outcome=outcome)
    assert result.status == status
    assert result.violation == "work recorded by an engineer the job is no longer assigned to"


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("kind", ["checkin", "resolution", "note"])
@pytest.mark.parametrize("assigned", [True, False])
def test_after_event_always_answers_a_known_status(status, kind, assigned) -> None:
    result = after_event(status, kind, assigned, outcome="resolved")
    assert result.status in STATUSES
