"""``FieldClient``: the laptop's public surface, used by the ``field`` command and by tests.

Every action an engineer takes on site is one local transaction that writes one outbox entry;
nothing touches the network until ``sync()``. Local rules give feedback at once, offline (an
unknown job, a part swap with no backup before it); the server re-checks everything anyway.

>>> client = FieldClient(home)                                  # doctest: +SKIP
>>> client.login("http://127.0.0.1:8000", "fs_e_...")           # doctest: +SKIP
>>> client.sync().pulled                                        # doctest: +SKIP
412
>>> client.record_event("J-0001", Checkin(note="plant room B2"))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import platform
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

import httpx
import platformdirs

from sync_protocol import (
    AppendEvent,
    Drawing,
    EnrollReply,
    sync_path,
    EnrollRequest,
    EventPayload,
    Job,
    JobEvent,
    PartSwap,
    PatchRecord,
    Record,
    Signature,
    sheet_events,
    sheet_hash,
    uuid7,
)
from sync_protocol import checks
from sync_protocol.codec import revalidated
from sync_protocol.errors import InvalidValue, SyncRejected
from sync_protocol.i18n import N_
from sync_protocol.merge import Side

from . import clock as wall
from . import lookup, outbox, replica, rules, view
from .blobcache import BlobCache
from .errors import (
    ApprovalRequired,
    BackupRequired,
    FieldClientError,
    InvalidAction,
    NotLoggedIn,
    UnknownRecord,
)
from .store import LocalStore, get_meta, now_iso, set_meta
from .report import Progress, SyncReport
from .sync import sync
from .transport import Transport, tls_context

DB_FILE = "field.db"


def default_home() -> Path:
    """``$FIELD_HOME``, else the platform's per-user data directory."""
    return Path(os.environ.get("FIELD_HOME") or platformdirs.user_data_dir("fieldsync"))


class FieldClient:
    def __init__(
        self,
        home: str | Path | None = None,
        *,
        http: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.25,
    ) -> None:
        self.home = (Path(home).expanduser() if home else default_home()).absolute()
        self.store = LocalStore(self.home / DB_FILE)
        self.blobs = BlobCache(self.home / "blobs")
        self._http, self._timeout, self._retries, self._backoff = http, timeout, retries, backoff
        # The HTTP stack ``sync()`` keeps between syncs (one connection, kept alive), and the
        # server URL and token it was made for.
        self._kept: tuple[tuple[str | None, str | None], Transport] | None = None
        self._kept_lock = threading.Lock()
        # Warranty is judged on the laptop's calendar day; tests and demos may pin it.
        self.today: Callable[[], dt.date] = dt.date.today

    def close(self) -> None:
        self._drop_transport()
        self.store.close()

    def __enter__(self) -> "FieldClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connection --------------------------------------------------------------------------

    def transport(self, url: str | None = None, token: str | None = None) -> Transport:
        """A new HTTP stack for this laptop's server (the caller closes it)."""
        meta = self.store.read(lambda c: (get_meta(c, "server_url"), get_meta(c, "device_token")))
        url, token = url or meta[0], token if url else meta[1]
        if not url:
            raise NotLoggedIn(N_("this laptop is not enrolled: run `field login URL --token TOKEN`"))
        return Transport(
            url, token, timeout=self._timeout, retries=self._retries, backoff=self._backoff, http=self._http
        )

    def _sync_transport(self) -> Transport:
        """The HTTP stack kept for syncs: a sync on a kept-alive connection skips building a client
        and a TCP (and TLS) handshake. Made again when the server URL or the token changed."""
        meta = self.store.read(lambda c: (get_meta(c, "server_url"), get_meta(c, "device_token")))
        with self._kept_lock:
            if self._kept is not None and self._kept[0] == meta:
                return self._kept[1]
        transport = self.transport()
        with self._kept_lock:
            old, self._kept = self._kept, (meta, transport)
        if old is not None:
            old[1].close()
        return transport

    def _drop_transport(self) -> None:
        with self._kept_lock:
            old, self._kept = self._kept, None
        if old is not None:
            old[1].close()

    def login(self, url: str, token: str, device_name: str | None = None) -> EnrollReply:
        """Exchange a one-time enrollment token for this laptop's device token."""
        request = EnrollRequest(
            enrollment_token=token,
            device_name=(device_name or platform.node())[:200],
            platform=platform.system().lower()[:200],
        )
        transport = self.transport(url, None)
        try:
            reply = transport.call(sync_path("enroll"), request, EnrollReply)
        finally:
            transport.close()

        def remember(conn: sqlite3.Connection) -> None:
            previous = get_meta(conn, "user_id")
            if previous and previous != reply.user_id and outbox.count(conn):
                raise InvalidAction(
                    N_(
                        "this laptop holds unsynced work of {previous}; sync it before enrolling as {user}",
                        previous=previous,
                        user=reply.user_name,
                    ),
                    field="token",
                )
            for key, value in (
                ("server_url", url.rstrip("/")),
                ("device_token", reply.device_token),
                ("device_id", reply.device_id),
                ("user_id", reply.user_id),
                ("user_name", reply.user_name),
                ("role", reply.role),
            ):
                set_meta(conn, key, value)
            # A new device starts a new seq space on the server: pending work is renumbered
            # from 1 (its events keep their ids, so nothing can be applied twice).
            outbox.renumber_above(conn, 0)
            replica.drop_for_reset(conn)
            set_meta(conn, "cursor", None)
            set_meta(conn, "limits", None)  # the first sync says hello to this server

        self.store.write(remember)
        return reply

    def sync(self, page_size: int | None = None, progress: Progress | None = None) -> SyncReport:
        """Push the outbox, pull the scope, fetch drawings. Safe to interrupt and run again."""
        transport = self._sync_transport()
        if progress is None:
            return sync(self.store, self.blobs, transport, page_size)
        return sync(self.store, self.blobs, transport, page_size, progress)

    # --- reading -----------------------------------------------------------------------------

    def reachable(self, timeout: float = 2.0) -> bool | None:
        """Whether the server answers right now (None: not enrolled). Never raises: it is for
        telling the engineer whether a sync would get through, not for syncing."""
        url = self.store.read(lambda c: get_meta(c, "server_url"))
        if not url:
            return None
        try:
            with httpx.Client(transport=self._http, timeout=timeout, verify=tls_context()) as client:
                return client.get(f"{url}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def status(self, check_server: bool = False) -> dict[str, Any]:
        """Who this laptop is, what waits to be synced, what the server refused or flagged;
        with ``check_server``, whether the server answers now."""

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            rejected = conn.execute("SELECT count(*) FROM answers WHERE status='rejected'").fetchone()[0]
            return {
                **view.identity(conn),
                "pending": outbox.count(conn),
                "rejected": rejected,
                "open_conflicts": len(view.open_conflicts(conn)),
                "records": conn.execute("SELECT count(*) FROM records").fetchone()[0],
            }

        info = self.store.read(read)
        if check_server:
            info["server_reachable"] = self.reachable()
        return info

    def jobs(self) -> list[Job]:
        return self.store.read(view.jobs)

    def job(self, job_id: str) -> Job:
        """A job by its id in any case, or by the number the office shows (``SR-2026-0001``)."""
        return self.store.read(lambda c: _find(c, "job", job_id))  # type: ignore[return-value]

    def record(self, entity: str, record_id: str) -> Record:
        """A record by its id (in any case, when that names just one)."""
        return self.store.read(lambda c: _find(c, entity, record_id))

    def suggest(self, entity: str, text: str) -> str | None:
        """The id (or job number) on this laptop nearest to a mistyped one, if any is near."""
        return lookup.did_you_mean(text, self.store.read(lambda c: replica.names(c, entity)))

    def records(self, entity: str, parent: str | None = None) -> list[Record]:
        return self.store.read(lambda c: view.records(c, entity, parent))

    def events(self, job_id: str) -> list[view.EventView]:
        return self.store.read(lambda c: view.events(c, job_id))

    def checked_in_jobs(self) -> set[str]:
        """The jobs checked in on, held or pending (``view.checked_in_jobs``)."""
        return self.store.read(view.checked_in_jobs)

    def van_stock(self) -> list[Record]:
        return self.store.read(lambda c: view.van_stock(c, self._meta(c, "user_id")))  # type: ignore[return-value]

    def conflicts(self) -> list[Record]:
        return self.store.read(view.open_conflicts)

    def pending(self) -> list[AppendEvent | PatchRecord]:
        return self.store.read(lambda c: list(outbox.mutations(c)))

    def answers(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT device_id, seq, op, entity, record_id, job_id, status, reason, field, message, "
            "version, conflicts, answered_at FROM answers"
        )
        args: tuple[Any, ...] = ()
        if status:
            sql, args = sql + " WHERE status=?", (status,)
        return self.store.read(lambda c: [dict(r) for r in c.execute(sql + " ORDER BY rowid", args)])

    def pending_by_job(self) -> dict[str, int]:
        """How many recorded changes of each job wait to be synced (one query, for a job list)."""
        return self.store.read(view.pending_by_job)

    def blob_path(self, sha256: str) -> Path | None:
        path = self.blobs.path(sha256)
        return path if path.is_file() else None

    def drawing_path(self, drawing: Drawing) -> Path | None:
        """The drawing's file under its own name and extension (``HOME/drawings/D-01-....png``),
        to open and to find in a file manager; None until it is downloaded."""
        return self.blobs.named(drawing.sha256, self.home / "drawings" / drawing_filename(drawing))

    # --- recording on site -------------------------------------------------------------------

    def record_event(self, job_id: str, payload: EventPayload) -> JobEvent:
        """Record one fact about a job, in one local transaction with its outbox entry."""
        payload = _validated(payload)

        def work(conn: sqlite3.Connection) -> JobEvent:
            job: Job = _find(conn, "job", job_id)  # type: ignore[assignment]
            self._check_event(conn, job, payload)
            return self._append_event(conn, job.id, payload)

        return self.store.write(work)

    def sign(
        self,
        job_id: str,
        signer: str,
        image: Path | bytes,
        role: str = "",
        media_type: str = "image/png",
        expected_sheet_hash: str | None = None,
    ) -> JobEvent:
        """The customer signs the sheet as it stands now: its hash and its events are bound.
        With ``expected_sheet_hash`` (the sheet the customer was shown), a sheet that changed
        since is refused in the same transaction, instead of binding what they never saw."""
        sha = self.add_blob(image, media_type)

        def work(conn: sqlite3.Connection) -> JobEvent:
            job: Job = _find(conn, "job", job_id)  # type: ignore[assignment]
            events = [v.event for v in view.events(conn, job.id)]
            current = sheet_hash(job, events)
            if expected_sheet_hash is not None and expected_sheet_hash != current:
                raise InvalidAction(
                    N_("the sheet changed while the customer was reading it: show it again and sign again"),
                    field="sheet_hash",
                )
            payload = Signature(
                signer=signer,
                role=role,
                image_sha256=sha,
                sheet_hash=current,
                event_ids=[e.id for e in sheet_events(events)],
            )
            return self._append_event(conn, job.id, _validated(payload))

        return self.store.write(work)

    def edit(self, entity: str, record_id: str, **fields: Any) -> PatchRecord:
        """Change observed facts of a record (a site's contact, an equipment's firmware...)."""

        def work(conn: sqlite3.Connection) -> PatchRecord:
            current = _find(conn, entity, record_id)
            self._check_patch(conn, entity, current, fields)
            base = view.version(conn, entity, current.id) or 0
            return outbox.append(
                conn,
                lambda seq, hlc: PatchRecord(  # type: ignore[return-value]
                    seq=seq, hlc=hlc, entity=entity, id=current.id, base_version=base, fields=fields
                ),
            )

        return self.store.write(work)

    def add_blob(self, source: Path | bytes, media_type: str = "application/octet-stream") -> str:
        """Put a file (photo, signature image) in the cache and queue it for upload."""
        sha = self.blobs.add_bytes(source) if isinstance(source, bytes) else self.blobs.add_file(Path(source))
        size = self.blobs.path(sha).stat().st_size
        self.store.write(
            lambda c: c.execute(
                "INSERT OR IGNORE INTO blobs(sha256, size, media_type, origin, uploaded, created_at) "
                "VALUES (?,?,?,?,0,?)",
                (sha, size, media_type, "local", now_iso()),
            )
        )
        return sha

    # --- rules and plumbing --------------------------------------------------------------------

    def _append_event(self, conn: sqlite3.Connection, job_id: str, payload: EventPayload) -> JobEvent:
        user, device = self._meta(conn, "user_id"), self._meta(conn, "device_id")
        mutation = outbox.append(
            conn,
            lambda seq, hlc: AppendEvent(
                seq=seq,
                hlc=hlc,
                event=JobEvent(
                    id=uuid7(),
                    job_id=job_id,
                    author=user,
                    device_id=device,
                    hlc=hlc,
                    at=wall.now(conn),
                    payload=payload,
                ),
            ),
        )
        return mutation.event  # type: ignore[union-attr]

    def _check_event(self, conn: sqlite3.Connection, job: Job, payload: EventPayload) -> None:
        """What the server would refuse (``sync_protocol.checks``), then the service rules the
        laptop asks about before recording (backup first, approved paid work, serials)."""

        def find(entity: str, record_id: str) -> Record | None:
            if entity == "event":  # the job's events as the laptop shows them, pending ones too
                return next((v.event for v in view.events(conn, job.id) if v.event.id == record_id), None)
            return view.record(conn, entity, record_id)

        try:
            checks.check_event(job, payload, find, author=self._meta(conn, "user_id"))
        except SyncRejected as refused:
            raise _refusal(refused) from None
        if isinstance(payload, PartSwap):
            self._check_swap(conn, job, payload)

    def _check_swap(self, conn: sqlite3.Connection, job: Job, swap: PartSwap) -> None:
        """DOMAIN.md steps 5-8: backup first, the customer approves paid work, serials add up."""
        equipment = view.record(conn, "equipment", swap.equipment_id)
        part = view.record(conn, "part", swap.sku)
        events = [v.event for v in view.events(conn, job.id)]
        if not rules.has_backup(events) and not swap.no_backup_ack:
            raise BackupRequired(
                N_(
                    "job {job} has no verified backup yet: record the backup first, or acknowledge working without one",
                    job=job.number,
                ),
                field="no_backup_ack",
            )
        paid = rules.swap_is_paid(equipment, part, events, self.today())  # type: ignore[arg-type]
        if paid and rules.approved_quote(events) is None:
            raise ApprovalRequired(
                N_("paid work ({why}): the customer must approve a quote before anything is replaced", why=paid),
                field="quote",
            )
        elsewhere = rules.installed_elsewhere(
            swap.serial_in,
            swap.equipment_id,
            view.swaps_of_serial(conn, swap.serial_in),
            view.equipment_with_serial(conn, swap.serial_in),
        )
        if elsewhere:
            raise InvalidAction(
                N_("serial {serial} is already installed in {where}", serial=swap.serial_in, where=elsewhere),
                field="serial_in",
                code="installed_elsewhere",
                where=elsewhere,
                serial=swap.serial_in,
            )

    def _check_patch(self, conn: sqlite3.Connection, entity: str, current: Record, fields: dict[str, Any]) -> None:
        """Exactly the server's check of a pushed patch (``sync_protocol.checks``)."""
        side: Side = "field" if self._meta(conn, "role") == "engineer" else "office"
        try:
            checks.check_entity(entity)
            checks.check_patch(entity, current, fields, side)
        except SyncRejected as refused:
            raise _refusal(refused) from None

    def _meta(self, conn: sqlite3.Connection, key: str) -> str:
        value = get_meta(conn, key)
        if value is None:
            raise NotLoggedIn(N_("this laptop is not enrolled: run `field login URL --token TOKEN`"))
        return value


def drawing_filename(drawing: Drawing) -> str:
    """A safe file name for a drawing: its id, then its own file name (no directories, no
    control characters), with an extension from its media type if it has none."""
    name = (
        "".join(
            c for c in drawing.filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable() and c not in ':*?"<>|'
        ).strip(" .")[:150]
        or drawing.id
    )
    if not Path(name).suffix:
        name += mimetypes.guess_extension(drawing.media_type) or ""
    if name.startswith(f"{drawing.id}-") or Path(name).stem == drawing.id:
        return name
    return f"{drawing.id}-{name}"


def _find(conn: sqlite3.Connection, entity: str, text: str) -> Record:
    """The record ``text`` names (see ``replica.find_id``), or ``UnknownRecord`` with the
    nearest id as a suggestion."""
    found = view.record(conn, entity, text)
    if found is None and (record_id := replica.find_id(conn, entity, text)) is not None:
        found = view.record(conn, entity, record_id)
    if found is None:
        suggestion = lookup.did_you_mean(text, replica.names(conn, entity))
        raise UnknownRecord(lookup.not_found(entity, text, suggestion), field=f"{entity}_id")
    return found


def _validated(payload: EventPayload) -> EventPayload:
    """Run the payload's declared constraints (a Struct built in Python is not validated)."""
    try:
        return revalidated(payload)
    except InvalidValue as exc:
        raise InvalidAction(exc.message, field=exc.field) from None


def _refusal(refused: SyncRejected) -> FieldClientError:
    """A check's refusal as the laptop's error: something not on the laptop, or not allowed."""
    field = checks.local_field(refused.field)
    if refused.reason.startswith("unknown_"):
        return UnknownRecord(refused.message, field=field, code=refused.rule)
    return InvalidAction(refused.message, field=field, code=refused.rule)
