"""What the app says in the reader's language about refusals, readiness and warranty.

The laptop's rules refuse with typed errors that name the field, a ``code`` and the facts
(``field_client.errors``); this module turns them into a sentence and the way forward (record
the backup or waive it, make a quote first, ...), in the locale of the page. The English of the
errors themselves stays the CLI's.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .. import rules
from ..errors import ApprovalRequired, BackupRequired, FieldClientError, UnknownRecord
from ..workbench import Problem

Gettext = Callable[[str], str]


class Way(NamedTuple):
    """A way forward from a refusal: a link to the step that unblocks it."""

    label: str
    href: str


class Refusal(NamedTuple):
    field: str  # the form field it belongs next to
    message: str
    ways: list[Way]


def refusal(exc: FieldClientError, _: Gettext, job_id: str = "") -> Refusal:
    """A refusal of the laptop's rules, in words and with the way forward."""
    page = f"/jobs/{job_id}" if job_id else ""
    field = exc.field or ""
    if isinstance(exc, BackupRequired):
        return Refusal(
            "no_backup_ack",
            _("This job has no verified backup yet: back up before any repair."),
            [
                Way(_("Record the backup"), f"{page}#step-backup"),
                Way(_("Waive the backup, with a reason"), f"{page}#waive"),
                Way(
                    _("Or tick \u201cwork without a backup\u201d below: it is recorded for the audit"), "#no_backup_ack"
                ),
            ],
        )
    if isinstance(exc, ApprovalRequired):
        return Refusal(
            "quote",
            _("This is paid work: the customer must approve a quote before any part is replaced."),
            [Way(_("Make the quote and get the approval"), f"{page}#step-quote")],
        )
    if exc.code == "installed_elsewhere":
        return Refusal(
            "serial_in",
            _("Serial {serial} is already installed in {where}: check the serial on the new part.").format(
                serial=exc.facts.get("serial", ""), where=exc.facts.get("where", "")
            ),
            [],
        )
    if exc.code == "same_serial":
        return Refusal("serial_in", _("The serial going in is the serial coming out."), [])
    if field == "image":
        words = {
            "empty": _("The signature is empty: please sign on the pad."),
            "dot": _("That is only a dot: please sign with your name."),
            "too_large": _("The signature image is too large."),
            "not_png": _("The signature could not be read: please sign again."),
            "unreadable": _("The signature could not be read: please sign again."),
        }
        return Refusal("image", words.get(exc.code or "", words["unreadable"]), [])
    if field == "sheet_hash":
        return Refusal("signer", _("The sheet changed while it was shown: please read it again and sign again."), [])
    if field == "signer":
        return Refusal("signer", _("Please type your name."), [])
    if field == "photo":
        if exc.code == "too_large":
            return Refusal("photo", _("The photo is larger than 25 MB."), [])
        return Refusal("photo", _("A photo must be a PNG, JPEG or WebP image."), [])
    if field == "again":
        return Refusal(
            "again",
            _(
                "This is recorded already; a second one is kept beside the first only when "
                "it is meant: reload the page and try again."
            ),
            [],
        )
    if field == "waive_reason":
        return Refusal("waive_reason", _("Say why no backup can be made."), [])
    if field == "reason":
        return Refusal("reason", _("Say why the job is escalated."), [])
    if field == "quote":
        return Refusal(
            "quote",
            _("There is no quote to approve: make the quote first."),
            [Way(_("Make the quote"), f"{page}#step-quote")],
        )
    if isinstance(exc, UnknownRecord):
        return Refusal(field, _("{what} is not on this laptop: sync first.").format(what=_field_name(field, _)), [])
    return Refusal(field, _("Not recorded: {detail}").format(detail=exc.message), [])


def _field_name(field: str, _: Gettext) -> str:
    names = {
        "equipment_id": _("This equipment"),
        "sku": _("This part"),
        "part": _("This part"),
        "job_id": _("This job"),
        "quote_event_id": _("This quote"),
    }
    return names.get(field, _("This record"))


def problem(item: str, _: Gettext) -> str:
    """One of ``field ready``'s problems, in words."""
    if not isinstance(item, Problem):
        return item
    facts: dict[str, Any] = item.facts
    sentences = {
        "site_missing": _("{job}: the site {site} is missing"),
        "equipment_missing": _("{job}: the equipment {equipment} is missing"),
        "drawing_missing": _("{job}: drawing {drawing} is not downloaded yet"),
        "drawing_damaged": _("{job}: drawing {drawing} is damaged on disk: sync again"),
        "no_catalog": _("the parts catalog is not on this laptop"),
        "unsynced": _("{count} change(s) not synced yet"),
        "never_synced": _("this laptop has never synced"),
    }
    return sentences.get(item.code, str(item)).format(**facts)


def warranty(equipment: Any, verdict: rules.Warranty, _: Gettext, day: Callable[[Any], str]) -> str:
    """The warranty verdict of ``rules.warranty_of`` in words (its ``reason`` is the CLI's English)."""
    if verdict.covered:
        return _("In warranty until {date}: repair and parts are free.").format(date=day(equipment.warranty_end))
    if verdict.reason.startswith("void"):
        return _("Warranty void: the diagnosed cause is human (misuse or self-repair). Paid work.")
    if equipment.warranty_end is None:
        return _("No warranty end date on record: treated as out of warranty. Paid work.")
    return _("Warranty ended {date}: paid work (travel and parts at cost).").format(date=day(equipment.warranty_end))
