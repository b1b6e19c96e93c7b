"""Text for people: the job list, the service sheet, amounts and time left, in the language of
the terminal (``lang``).

JSON output (``--json``) does not come through here: it is the records themselves.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

import msgspec

from sync_protocol import (
    Backup,
    Checkin,
    CustomerApproval,
    Diagnosis,
    JobEvent,
    Loaner,
    Note,
    Part,
    PartSwap,
    Photo,
    Quote,
    Resolution,
    Signature,
    Stock,
    Test,
)

from sync_protocol import i18n
from sync_protocol.bounds import as_utc
from sync_protocol.sentences import in_language

from .lang import _
from .workbench import Deadline, equipment_line


def money(cents: int, currency: str = "CNY") -> str:
    return f"{currency} {Decimal(cents) / 100:,.2f}"


def cents(amount: str) -> int:
    """``"300"`` or ``"300.50"`` (currency units) to an integer of cents, exactly."""
    value = Decimal(amount)
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{amount!r} is not an amount with at most two decimals")
    return int(value * 100)


def span(seconds: float) -> str:
    """A span of time as people say it: ``57 min``, ``1 h 05 min``, ``25 d``."""
    minutes = int(abs(seconds)) // 60
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=f"{minutes:02d}")
    return _("{days} d").format(days=hours // 24)


def time_left(deadline: Deadline | None) -> str:
    """``on site in 1 h 25 min``, ``on site overdue 25 d``, or ``-`` when no promise is running."""
    if deadline is None:
        return "-"
    seconds = deadline.left.total_seconds()
    overdue = seconds < 0
    if deadline.what == "respond":
        text = _("respond overdue {span}") if overdue else _("respond in {span}")
    else:
        text = _("on site overdue {span}") if overdue else _("on site in {span}")
    return text.format(span=span(seconds))


def deadline_data(deadline: Deadline | None) -> dict[str, Any] | None:
    """The deadline for scripts: the time (ISO 8601), whole seconds left (negative when missed)."""
    if deadline is None:
        return None
    left = int(deadline.left.total_seconds())
    return {
        "what": deadline.what,
        "at": deadline.at.isoformat(),
        "left_s": left,
        "overdue": left < 0,
        "text": time_left(deadline),
    }


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def fit(text: str, width: int) -> str:
    """``text`` cut and padded to ``width`` terminal columns (a CJK character takes two)."""
    out, used = [], 0
    for char in text:
        w = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used + w > width:
            break
        out.append(char)
        used += w
    return "".join(out) + " " * (width - used)


def jobs_table(rows: list[tuple[Any, Deadline | None]], sites: dict[str, str]) -> str:
    """The job list; ``sites`` maps site ids to their names."""
    if not rows:
        return _("no jobs on this laptop: run `field sync`")
    status = i18n.names(_)["status"]
    heads = [(_("job"), 8), (_("number"), 14), (_("sev"), 3), (_("status"), 9), (_("deadline"), 26), (_("site"), 28)]
    lines = [" ".join(fit(text, width) for text, width in heads) + " " + _("fault")]
    for job, deadline in rows:
        lines.append(
            f"{job.id:8} {job.number:14} {job.severity:>3} {fit(status.get(job.status, job.status), 9)} "
            f"{fit(time_left(deadline), 26)} {fit(sites.get(job.site_id, job.site_id), 28)} {job.fault[:60]}"
        )
    return "\n".join(lines)


def parts_table(rows: list[tuple[Part, int]]) -> str:
    """The catalog (``field parts``): SKU, how many the van holds, price, wear part, warranty."""
    lines = [f"{'sku':16} {'van':>4} {'price':>14}  {'wear':4} {'warranty':>8}  name"]
    for part, qty in rows:
        lines.append(
            f"{part.id:16} {qty:>4} {money(part.price_cents, part.currency):>14}  "
            f"{'wear' if part.wear_part else '':4} {part.warranty_days:>6} d  {part.name}"
        )
    return "\n".join(lines)


def van_table(rows: list[tuple[Stock, Part | None]]) -> str:
    """The van's stock (``field van``); a count below zero says what it means."""
    if not rows:
        return "no van stock on this laptop: run `field sync`"
    lines = [f"{'sku':16} {'qty':>4}  name"]
    for stock, part in rows:
        lines.append(
            f"{stock.sku:16} {stock.qty:>4}  {part.name if part else '(not in the catalog)'}"
            + ("  ! more taken than the van held: the office will restock or correct it" if stock.qty < 0 else "")
        )
    return "\n".join(lines)


def event_line(event: JobEvent, pending: bool) -> str:
    p: Any = event.payload  # each line of the table below reads the fields of its own kind
    utc = as_utc(event.at)
    at = utc.strftime("%m-%d %H:%M") if utc is not None else event.at.isoformat()  # an odd time, as sent
    text = {
        Checkin: lambda: _("checked in {note}").format(note=p.note),
        Backup: lambda: (
            _("backup WAIVED: {reason}").format(reason=p.waive_reason)
            if p.waived
            else _("backup {scope} via {method} at {place}, sha256 {sha}..., {verified}").format(
                scope=p.scope,
                method=p.method,
                place=p.stored_at,
                sha=p.sha256[:12],
                verified=_("verified") if p.verified else _("NOT verified"),
            )
        ),
        Diagnosis: lambda: _("diagnosis ({cause}): {findings}").format(cause=p.cause, findings=p.findings),
        Quote: lambda: _("quote {lines} + labour = {total}").format(
            lines=", ".join(f"{ln.qty} x {ln.sku}" for ln in p.lines), total=money(p.total_cents, p.currency)
        ),
        CustomerApproval: lambda: (_("approved by {name}") if p.approved else _("DECLINED by {name}")).format(
            name=p.approved_by
        ),
        PartSwap: lambda: (
            _("swap {qty} x {sku} in {equipment}: out {serial_out}, in {serial_in}").format(
                qty=p.qty, sku=p.sku, equipment=p.equipment_id, serial_out=p.serial_out, serial_in=p.serial_in
            )
            + (" " + _("(NO BACKUP, acknowledged)") if p.no_backup_ack else "")
        ),
        Loaner: lambda: (_("loaner {device} returned") if p.returned else _("loaner {device} lent")).format(
            device=p.device
        ),
        Test: lambda: (_("test PASS {notes}") if p.result == "pass" else _("test FAIL {notes}")).format(notes=p.notes),
        Note: lambda: _("note: {text}").format(text=p.text),
        Photo: lambda: _("photo {caption}").format(caption=p.caption),
        Signature: lambda: _("signed by {signer} ({role})").format(signer=p.signer, role=p.role),
        Resolution: lambda: (_("resolved {reason}") if p.outcome == "resolved" else _("escalated {reason}")).format(
            reason=p.reason
        ),
    }[type(p)]()
    return f"  {at}  {text}" + ("   " + _("[not synced]") if pending else "")


def sheet_text(sheet: dict[str, Any]) -> str:
    job, site, customer = sheet["job"], sheet["site"], sheet["customer"]
    status = i18n.names(_)["status"].get(job.status, job.status)
    out = [
        f"{job.number} ({job.id})  "
        + _("severity {level}").format(level=job.severity)
        + f"  {status}  {time_left(sheet['deadline'])}",
        _("fault: {text}").format(text=job.fault),
        _("customer: {name}").format(name=customer.name if customer else job.customer_id),
        _("site: {name}, {address}").format(name=site.name, address=site.address),
        _("contact: {contact}").format(
            contact=f"{site.contact_name} {site.contact_phone} {site.contact_email}".rstrip()
        ),
        _("access: {notes}").format(notes=site.access_notes) if site.access_notes else "",
        "",
        _("equipment:"),
    ]
    out += [f"  {equipment_line(eq, w)}" for eq, w in sheet["equipment"]]
    out += ["", _("drawings:")]
    missing = _("NOT DOWNLOADED")
    out += [f"  {d.id:6} {d.title} ({d.filename}) {path or missing}" for d, path in sheet["drawings"]]
    out += ["", _("timeline ({count} not synced):").format(count=sheet["pending"])]
    out += [event_line(v.event, v.pending) for v in sheet["events"]] or ["  " + _("nothing recorded yet")]
    signature = sheet["signature"]
    state = {"none": _("not signed"), "valid": _("valid"), "outdated": _("outdated")}.get(signature["state"], "")
    line = _("signature: {state}").format(state=state or signature["state"]) + (
        " " + _("(signed by {signer} on {when})").format(signer=signature["signer"], when=signature["signed_at"])
        if "signer" in signature
        else ""
    )
    if signature["state"] == "outdated":
        line += " - " + _("SIGNS AN OLDER VERSION of this sheet; changed since:")
        out += ["", line] + [f"  - {in_language(change, _)}" for change in signature["changed"]]
    else:
        out += ["", line]
    if sheet["conflicts"]:
        out += ["", _("flagged by the server:")] + [
            f"  {c.kind}: {in_language(c.detail or c.rule, _)}" for c in sheet["conflicts"]
        ]
    return "\n".join(line for line in out if line is not None)


def status_text(status: dict[str, Any]) -> str:
    """``field status``: one line per fact, named in the terminal's language (``--json`` keeps
    the keys)."""
    labels = {
        "server_url": _("server"),
        "device_id": _("device id"),
        "user_id": _("user id"),
        "user_name": _("user"),
        "role": _("role"),
        "last_sync_at": _("last sync"),
        "pending": _("waiting to sync"),
        "rejected": _("refused"),
        "open_conflicts": _("open conflicts"),
        "records": _("records"),
        "server_reachable": _("server answers"),
    }
    shown = {labels.get(k, k): v for k, v in status.items()}
    width = max([16, *(columns(k) + 1 for k in shown)])
    return "\n".join(
        fit(k, width) + " " + ("-" if v is None else (_("yes") if v is True else _("no") if v is False else str(v)))
        for k, v in shown.items()
    )


def plain(value: Any) -> Any:
    """Structs, tuples and paths as JSON-able data."""
    return msgspec.to_builtins(value, enc_hook=str)
