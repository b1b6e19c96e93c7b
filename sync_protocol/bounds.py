"""What the protocol accepts at all: sizes of every text, list and map, and a window for time.

Both sides need these rules: the server refuses what breaks them (``422 invalid`` naming the
field, or a ``rejected`` push answer), and the laptop refuses the same things when the engineer
records them, so nothing is written on site that the server would throw away. A record that
keeps to these bounds can be stored, shown, printed and exported without surprises: a year
10,000 or a map of 60,000 parameters cannot reach a page.

Time comes from two places a server cannot trust: the laptop's wall clock (an event's ``at``)
and its hybrid logical clock (every mutation's ``hlc``). Both must lie between 2000-01-01 and
the server's own clock plus ``MAX_DRIFT_MS``; a laptop whose clock runs ahead corrects itself
from the server's clock (``docs/protocol.md``, "A laptop with a wrong clock").

>>> now = 1_764_547_200_000                      # 2025-12-01T00:00:00Z in Unix milliseconds
>>> stamp_problem("0000000000000001", now)
'the clock stamp is before 2000-01-01: the laptop clock is wrong'
>>> stamp_problem(hlc.encode(now + MAX_DRIFT_MS + 1, 0), now) is not None
True
>>> stamp_problem(hlc.encode(now, 7), now) is None
True
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec

from . import hlc
from .hlc import MAX_DRIFT_MS
from .i18n import N_, Words

# --- sizes ------------------------------------------------------------------------------------

MAX_ID = 64  # ids: 1-64 characters of [A-Za-z0-9_.:|@-]
MAX_NAME = 200  # names, serials, short labels
MAX_TEXT = 4_000  # notes, findings, descriptions
MAX_LIST = 100  # a record's list of ids or names (equipment of a job, subsystems)
MAX_MAP = 100  # entries of a map (equipment parameters)
MAX_FLAGS = 20  # a job's flags (set by the server)
MAX_QUOTE_LINES = 200  # lines of one quote
MAX_SIGNED_EVENTS = 5_000  # events one signature may cover
MAX_PATCH_FIELDS = 50  # fields changed by one patch
MAX_QTY = 10_000  # parts in one quote line or swap
MAX_STOCK = 10**9  # a stock quantity, either sign
MAX_BYTES = 2**53  # a size in bytes (exact in every JSON reader)
MAX_CENTS = 10**12  # an amount in minor units
MAX_DAYS = 36_500  # a warranty in days
MAX_COMMENT = 2_000  # a supervisor's comment on a reviewed audit finding

# --- text -------------------------------------------------------------------------------------

NUL = "\x00"
_NUL_ESCAPE = b"\\u0000"  # the only way JSON can hold a NUL inside a text
_json = msgspec.json.Encoder()


def nul_path(value: Any, json_text: bytes | None = None) -> str | None:
    """Where ``value`` (Structs or plain data) holds a NUL character, in the protocol's field
    notation (``mutations[0].event.payload.text``; a map's own path for one of its keys, ``""``
    for ``value`` itself); None when no text in it does.

    No text of the protocol may hold a NUL: PostgreSQL cannot store one in a text or a jsonb (a
    record holding one would break every query that reads inside records), a C library reading
    a record stops there, and nobody types one, so one is an attack or a broken paste, refused
    like any other value out of bounds. ``json_text`` is ``value`` as JSON when the caller
    has it (a JSON body): without the escape in it, nothing needs a closer look.

    >>> nul_path({"notes": ["ok", f"a{NUL}b"]}), nul_path({"map": {f"k{NUL}": 1}}), nul_path(["fine"])
    ('notes[1]', 'map', None)
    """
    try:
        if _NUL_ESCAPE not in (_json.encode(value) if json_text is None else json_text):
            return None
    except (TypeError, ValueError, msgspec.EncodeError):  # what JSON cannot write (a map's keys
        pass  # that are no texts, a lone surrogate, which no decoder lets in but plain data may hold)
    return _nul_in(msgspec.to_builtins(value), "")


def _nul_in(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return path
            found = _nul_in(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _nul_in(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def nul_refusal(path: str) -> str:
    """The sentence a value holding a NUL at ``path`` is refused with."""
    return f"{path or 'the value'}: a text may not hold a NUL character (U+0000)"


def without_nul(value: Any) -> Any:
    """``value`` (plain data) with every NUL in its texts and keys made U+FFFD, the character
    that stands for one that could not be kept: what a record stored before the rule becomes.

    >>> without_nul({"name": f"a{NUL}b", "tags": [f"x{NUL}"]}) == {"name": "a\ufffdb", "tags": ["x\ufffd"]}
    True
    """
    if isinstance(value, str):
        return value.replace(NUL, "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


# --- time -------------------------------------------------------------------------------------

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
EARLIEST_MS = int(EARLIEST.timestamp() * 1000)


def stamp_problem(stamp: str, server_ms: int) -> str | None:
    """Why a hybrid-logical-clock stamp from a laptop is refused, given the server's wall clock
    in Unix milliseconds; None when it is within the window."""
    wall = hlc.wall_ms(stamp)
    if wall < EARLIEST_MS:
        return "the clock stamp is before 2000-01-01: the laptop clock is wrong"
    if wall - server_ms > MAX_DRIFT_MS:
        return (
            f"the clock stamp is {(wall - server_ms) // 1000} s ahead of the server's clock "
            f"(at most {MAX_DRIFT_MS // 1000} s): correct the laptop clock from the server's"
        )
    return None


def time_problem(moment: dt.datetime, server_ms: int) -> str | None:
    """Why a wall-clock time from a laptop (an event's ``at``) is refused; None when it is
    between 2000-01-01 and the server's clock plus the drift bound."""
    try:
        ms = int(moment.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return "the time cannot be represented"
    if ms < EARLIEST_MS:
        return "the time is before 2000-01-01: the laptop clock is wrong"
    if ms - server_ms > MAX_DRIFT_MS:
        return (
            f"the time is {(ms - server_ms) // 1000} s ahead of the server's clock "
            f"(at most {MAX_DRIFT_MS // 1000} s): correct the laptop clock from the server's"
        )
    return None


def base_version_problem(base_version: int, current_version: int) -> str | None:
    """An edit is made on a version the record has had: one beyond the record's current version
    would make the merge believe nothing changed since, and skip itself."""
    if base_version > current_version:
        return (
            f"base_version {base_version} is beyond the record's current version "
            f"{current_version}: an edit can only be made on a version the record has had"
        )
    return None


def comment_problem(comment: str) -> Words | None:
    """Why a reviewer's comment is refused (in words a page translates): a review says what was
    looked at, in a paragraph.

    >>> comment_problem("  "), comment_problem("x" * (MAX_COMMENT + 1)), comment_problem("checked")
    ('comment: write what you reviewed', 'comment: at most 2000 characters', None)
    """
    if not comment.strip():
        return N_("comment: write what you reviewed")
    if len(comment) > MAX_COMMENT:
        return N_("comment: at most {limit} characters", limit=MAX_COMMENT)
    return None


def as_utc(moment: dt.datetime) -> dt.datetime | None:
    """``moment`` in UTC, or None when it has no UTC form (9999-12-31T23:00-12:00 is in the year
    10000): what a page, a report or a laptop view then shows as the text it was sent as.

    >>> as_utc(dt.datetime.fromisoformat("2026-11-25T17:30:00+08:00")).isoformat()
    '2026-11-25T09:30:00+00:00'
    >>> as_utc(dt.datetime.fromisoformat("9999-12-31T23:00:00-12:00")) is None
    True
    """
    try:
        return moment.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


# --- what was stored before the bounds ---------------------------------------------------------

_AT = re.compile(r" - at `\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_LENGTH = re.compile(r"^Expected `[a-z]+` of length <= (\d+)")
_AT_MOST = re.compile(r"^Expected `[a-z]+` <= (-?\d+)")
_AT_LEAST = re.compile(r"^Expected `[a-z]+` >= (-?\d+)")


def clip(value: Any, kind: Any, attempts: int = 1_000) -> tuple[Any, list[str]]:
    """``value`` (plain data) as ``kind``, cut to its bounds where it breaks a length or a range:
    what a store written before these bounds is brought within them with. Returns the value and
    a sentence per cut; anything else that does not convert raises ``msgspec.ValidationError``.

    >>> from sync_protocol.records import Equipment
    >>> kept, cuts = clip({"id": "E", "site_id": "S", "model": "m", "serial": "s",
    ...                    "parameters": {f"p{i}": "v" for i in range(150)}}, Equipment)
    >>> len(kept.parameters), cuts
    (100, ['parameters: Expected `object` of length <= 100; cut'])
    """
    cuts: list[str] = []
    for _ in range(attempts):
        try:
            return msgspec.convert(value, kind), cuts
        except msgspec.ValidationError as exc:
            text = str(exc)
            where = _AT.search(text)
            if where is None or not where.group(1):
                raise
            steps = [int(i) if i else key for key, i in _STEP.findall(where.group(1))]
            parent = value
            for step in steps[:-1]:
                parent = parent[step]
            last, rule = steps[-1], text[: where.start()]
            if (m := _LENGTH.match(rule)) and isinstance(parent[last], (str, list, dict)):
                n, held = int(m.group(1)), parent[last]
                parent[last] = dict(list(held.items())[:n]) if isinstance(held, dict) else held[:n]
            elif m := (_AT_MOST.match(rule) or _AT_LEAST.match(rule)):
                parent[last] = int(m.group(1))
            else:
                raise
            cuts.append(f"{where.group(1).lstrip('.')}: {rule}; cut")
    raise ValueError(f"could not bring the value within its bounds in {attempts} cuts")
