"""The limits the server told at its last hello (batch, page and body sizes), as this laptop
remembers them: a sync that need not say hello sizes its requests by them."""

from __future__ import annotations

import sqlite3

import msgspec

from sync_protocol import HelloReply, Limits

from .store import get_meta, set_meta

_limits_json = msgspec.json.Encoder()
_limits_decoder = msgspec.json.Decoder(Limits)


def known_limits(conn: sqlite3.Connection) -> Limits | None:
    """The limits the server told at the last hello, or None before the first one."""
    text = get_meta(conn, "limits")
    if text is None:
        return None
    try:
        return _limits_decoder.decode(text)
    except msgspec.MsgspecError:
        return None  # unreadable: ask again


def remember_limits(conn: sqlite3.Connection, limits: Limits) -> None:
    set_meta(conn, "limits", _limits_json.encode(limits).decode())


def limits_of(hello: HelloReply | Limits | None) -> Limits:
    """The limits of this sync's hello, or those it gave; the protocol's defaults for None."""
    if isinstance(hello, HelloReply):
        return hello.limits
    return hello if hello is not None else Limits()
