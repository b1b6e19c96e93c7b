"""The English sentences the server stores or sends for people to read, and how a reader gets
them back in their own language.

A conflict's rule and detail, a merge's message and the lines of what changed since a signature
are made on the server (or the laptop), stored in English in a record and synced: the protocol
carries text, not message ids. Each sentence has one template here; the code that makes one
says it with ``say(TEMPLATE, **values)`` (a ``Words``: English, translatable), and whoever shows
a stored one to a person calls ``in_language(text, _)``: ``recover`` finds the template the text
was made from (and, inside its values, the templates those were made from), and ``translate``
says it again through the reader's catalog. A text no template made (typed by a person, or
stored by an older server) is shown as it is.

>>> detail = say(STOCK_TAKEN, qty=2, sku="PSU-750W", location="van:u-li-wei", held=1)
>>> detail
'2 x PSU-750W taken from van:u-li-wei, which held 1'
>>> zh = {"{qty} x {sku} taken from {location}, which held {held}": "从 {location} 取出 {qty} 个 {sku}（原有 {held}）"}
>>> in_language(detail, lambda m: zh.get(m, m))
'从 van:u-li-wei 取出 2 个 PSU-750W（原有 1）'
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any, Callable

from .i18n import N_, Gettext, Moment, Words, translate

# --- conflicts: the rules that decided -----------------------------------------------------------

RULE_JOB_STATE = N_("on-site work is kept; the job is flagged for the dispatcher")
RULE_STOCK = N_("stock deltas commute; a deficit is allowed and flagged")
RULE_SERIAL = N_("one serial cannot be installed at two places; both records are kept")
RULE_SIGNATURE = N_("the signature is kept and shown as signing an older version of the sheet")
RULE_OWNED = N_("{field} is owned by {who}; their value was kept")
RULE_LATER_EDIT = N_("both changed by the same side: the later edit (hybrid clock, then device id) was kept")
THE_OFFICE = N_("the office")
THE_ENGINEER = N_("the engineer on site")

# --- conflicts: what happened ---------------------------------------------------------------------

JOB_STATE_ASSIGNED_ELSEWHERE = N_(
    "{violation}: {who} recorded {kind} on job {number} while it was {status} and assigned to {assignee}"
)
JOB_STATE = N_("{violation}: {who} recorded {kind} on job {number} while it was {status}")
WORK_ON_CLOSED_JOB = N_("work recorded on a {status} job")
WORK_NOT_ASSIGNED = N_("work recorded by an engineer the job is no longer assigned to")
STOCK_TAKEN = N_("{qty} x {sku} taken from {location}, which held {held}")
STOCK_ISSUED = N_("{qty} x {sku} issued from {location}, which held {held}")
SERIAL_CLASH = N_(
    "serial {serial} installed in {equipment} (job {job}) is already installed in {other_equipment} (job {other_job})"
)
FIELD_BOTH_SIDES = N_("{field} of {entity} {id} was changed on both sides")

# --- merges ---------------------------------------------------------------------------------------

CHANGED_ON_BOTH_SIDES = N_("{field} changed on both sides")
NOTHING_CHANGED = N_("nothing changed")
SIGNATURE_NOW_OLDER = N_("the customer's signature now signs an older version")

# --- the backup audit: why a repair has no backup that counts -------------------------------------

NOT_VERIFIED_BACKUP = N_("a backup was recorded but not verified")
BACK_DATED = N_(
    "a backup or waiver reached the server only after the repair, stamped with an earlier clock than it (back-dated?)"
)
BACKUP_AFTER = N_("the backup was recorded only after the repair")
NO_BACKUP = N_("no backup recorded")
ACKNOWLEDGED = N_("{reason}; the engineer acknowledged working without one")

# --- a signature that signs an older sheet: what changed since ------------------------------------

SHEET_CHANGED = N_("the sheet changed after {signer} signed it on {when}: {changes}")
AND_MORE = N_("and {count} more")
ADDED_WITH_DETAIL = N_("{noun} added by {who} on {when}: {detail}")
ADDED = N_("{noun} added by {who} on {when}")
SIGNED_EVENTS_GONE = N_("{count} event(s) the customer signed are not on this sheet")
JOB_CORRECTED = N_("the job's fault or equipment was corrected after signing")
SOMEONE = N_("someone")
EVENT_WITH_DETAIL = N_("{noun}: {detail}")
A_CHECKIN = N_("a check-in")
A_WAIVER = N_("a backup waiver")
A_BACKUP = N_("a backup")
VERIFIED = N_("{scope}, verified")
NOT_VERIFIED = N_("{scope}, not verified")
A_DIAGNOSIS = N_("a diagnosis")
A_QUOTE = N_("a quote")
LABOUR_ONLY = N_("labour only")
AN_APPROVAL = N_("the customer's approval of a quote")
A_REFUSAL = N_("the customer's refusal of a quote")
A_SWAP = N_("a part swap")
SWAPPED = N_("{qty} x {sku} in {equipment}, serial in {serial}")
A_LOANER_LENT = N_("a loaner lent")
A_LOANER_RETURNED = N_("a loaner returned")
A_PASSED_TEST = N_("a passed test")
A_FAILED_TEST = N_("a failed test")
A_NOTE = N_("a note")
A_PHOTO = N_("a photo")
A_SIGNATURE = N_("a signature")
THE_JOB_RESOLVED = N_("the job resolved")
THE_JOB_ESCALATED = N_("the job escalated")
AN_EVENT = N_("an event")

# Lists joined into one sentence: tried last, so a template holding "; " or ", " wins first.
JOINED = N_("{first}; {rest}")
LISTED = N_("{first}, {rest}")

_LISTS = (JOINED, LISTED)
TEMPLATES: tuple[Words, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Words))
_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")


def say(template: Words, **values: Any) -> str:
    """``template`` said with ``values``, in English: plain text, as records and answers carry
    it (``in_language`` translates it where it is shown)."""
    return str(N_(template.msgid, **values))


def joined(items: list[str], template: Words = JOINED) -> str:
    """``items`` as one sentence (``a; b; c``) that ``recover`` can take apart again."""
    if not items:
        return ""
    out = str(items[-1])
    for item in reversed(items[:-1]):
        out = say(template, first=item, rest=out)
    return out


@functools.lru_cache(maxsize=None)
def _pattern(msgid: str) -> re.Pattern[str]:
    return re.compile(_PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>.+?)", re.escape(msgid)), re.DOTALL)


@functools.lru_cache(maxsize=4096)
def recover(text: str) -> str:
    """The ``Words`` a stored English ``text`` was said as (its values recovered too), or the
    text itself when no template made it."""
    if isinstance(text, Words):
        return text
    for template in TEMPLATES:
        if "{" not in template.msgid:
            if text == template.msgid:
                return template
            continue
        found = _pattern(template.msgid).fullmatch(text)
        if not found:
            continue
        values = {k: _value(v) for k, v in found.groupdict().items()}
        if template in _LISTS and not isinstance(values["first"], Words):
            continue  # a comma or semicolon in a text of someone's, not a list of ours
        return Words(template.msgid, values)
    return text


def _value(text: str) -> str:
    """A value inside a sentence: a moment, itself a sentence, or quoted text someone typed."""
    return text if text.startswith('"') else Moment.parse(text) or recover(text)


def in_language(text: str, _: Gettext, moment: Callable[[dt.datetime], str] | None = None) -> str:
    """A stored English sentence in the language of ``_`` (as it is, when no template made it),
    its times written by ``moment`` (the reader's zone and locale) when given."""
    return translate(recover(str(text)) if not isinstance(text, Words) else text, _, moment)
