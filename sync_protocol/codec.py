"""MessagePack and JSON over the same Structs, with errors that name the field.

>>> from sync_protocol.messages import PullRequest
>>> body = encode(PullRequest(limit=10), MSGPACK)
>>> decode(body, PullRequest, MSGPACK).limit
10
>>> decode(b'{"limit": "ten"}', PullRequest, JSON)
Traceback (most recent call last):
...
sync_protocol.errors.MalformedMessage: Expected `int`, got `str` - at `$.limit`
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

import msgspec

from .bounds import nul_path, nul_refusal
from .errors import InvalidValue, MalformedMessage

MSGPACK: Literal["application/msgpack"] = "application/msgpack"
JSON: Literal["application/json"] = "application/json"
# Names other implementations use for MessagePack; accepted on input.
MSGPACK_ALIASES = frozenset({MSGPACK, "application/x-msgpack", "application/vnd.msgpack"})

Format = Literal["application/msgpack", "application/json"]
T = TypeVar("T")

_msgpack_encoder = msgspec.msgpack.Encoder()
_json_encoder = msgspec.json.Encoder()
_FIELD_RE = re.compile(r"at `\$((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)`")
# msgspec's wording for a value of the right type that breaks a declared bound (a length, a
# range, a pattern): that is a value breaking a rule (422 invalid), not a malformed body (400).
_BOUND_RE = re.compile(r"^Expected `[a-z]+` (?:of length|>=|<=|>|<|matching|that is a multiple)")
_MISSING_RE = re.compile(r"missing required field `([A-Za-z_][A-Za-z0-9_]*)`")


def format_of(content_type: str | None) -> Format:
    """The wire format for a Content-Type header; MessagePack unless it says JSON."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == JSON or media.endswith("+json"):
        return JSON
    if media in MSGPACK_ALIASES or not media:
        return MSGPACK
    raise MalformedMessage(f"unsupported content type {media!r}: use {MSGPACK} or {JSON}", field="content-type")


def encode(obj: Any, fmt: Format = MSGPACK) -> bytes:
    return _json_encoder.encode(obj) if fmt == JSON else _msgpack_encoder.encode(obj)


_decoders: dict[tuple[Any, str], Any] = {}


def _decoder(kind: Any, fmt: str) -> Any:
    """One decoder per (type, format), built once: building one costs more than a decode."""
    key = (kind, fmt)
    if key not in _decoders:
        _decoders[key] = msgspec.json.Decoder(kind) if fmt == JSON else msgspec.msgpack.Decoder(kind)
    return _decoders[key]


def decode(body: bytes, kind: type[T], fmt: Format = MSGPACK) -> T:
    """Decode and validate; a failure raises ``MalformedMessage`` (400) naming the field, or
    ``InvalidValue`` (422) when a value of the right type breaks one of its bounds (a text too
    long, a number out of range, an id that is not one, a text holding a NUL: ``bounds.py``)."""
    try:
        decoded: T = _decoder(kind, fmt).decode(body)
        refuse_nul(decoded, body if fmt == JSON else None)
        return decoded
    except msgspec.ValidationError as exc:
        error = InvalidValue if breaks_a_bound(str(exc)) else MalformedMessage
        raise error(str(exc), field=field_of(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"body is not valid {fmt}: {exc}", field="body") from None
    except RecursionError:
        raise MalformedMessage("the body is nested too deeply", field="body") from None
    except UnicodeDecodeError as exc:  # msgspec lets invalid UTF-8 inside a string through as this
        raise MalformedMessage(
            f"body holds text that is not UTF-8: {exc.reason} at byte {exc.start} of a string", field="body"
        ) from None


def convert(data: Any, kind: type[T]) -> T:
    """Build ``kind`` from plain data (a form, a merged record), running every declared
    constraint; a failure raises ``InvalidValue`` naming the field.

    >>> from sync_protocol.messages import PullRequest
    >>> convert({"limit": 0}, PullRequest)
    Traceback (most recent call last):
    ...
    sync_protocol.errors.InvalidValue: Expected `int` >= 1 - at `$.limit`
    """
    try:
        converted = msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise InvalidValue(str(exc), field=field_of(str(exc))) from None
    refuse_nul(converted)
    return converted


def refuse_nul(value: Any, json_text: bytes | None = None) -> None:
    """``InvalidValue`` naming the field when a text in ``value`` holds a NUL (``bounds.nul_path``);
    ``json_text`` is ``value`` as the JSON it was read from, when there is one."""
    where = nul_path(value, json_text)
    if where is not None:
        raise InvalidValue(nul_refusal(where), field=where or None)


def revalidated(struct: T) -> T:
    """A Struct built in Python is not validated: run its declared constraints
    (``InvalidValue`` naming the field otherwise)."""
    return convert(msgspec.to_builtins(struct), type(struct))


def breaks_a_bound(message: str) -> bool:
    """Whether a msgspec validation message is about a bound (a length, a range, a pattern) of a
    value of the right type: the protocol's ``invalid`` (422), not ``malformed`` (400).

    >>> breaks_a_bound("Expected `str` of length <= 4000 - at `$.notes`")
    True
    >>> breaks_a_bound("Expected `int`, got `str` - at `$.seq`")
    False
    """
    return _BOUND_RE.match(message) is not None


def field_of(message: str) -> str | None:
    """The field a msgspec error is about, in the protocol document's notation.

    >>> field_of("Expected `int`, got `str` - at `$.mutations[3].seq`")
    'mutations[3].seq'
    >>> field_of("Object missing required field `job_id` - at `$.mutations[0].event`")
    'mutations[0].event.job_id'
    """
    match = _FIELD_RE.search(message)
    path = match.group(1).lstrip(".") if match else ""
    missing = _MISSING_RE.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None
