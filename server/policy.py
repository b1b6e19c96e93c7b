"""The server's configuration file and the severity policy it carries.

The commitments of ``DOMAIN.md`` (respond within 30 min and be on site within 2 h for a level-1
fault, ...) are typical, not universal: each service organisation sets its own. They live in
``DATA_DIR/config.toml`` next to the store, so the office intake and the SLA watch read the same
numbers, and a typo in the file stops the server at start instead of silently using defaults.

    [severity.1]
    respond_minutes = 30
    onsite_minutes = 120

    [scheduler]
    sla_interval_seconds = 60

    [office]
    language = "zh_Hans"          # for a browser that asks for no language fieldsync speaks
    timezone = "Asia/Shanghai"      # where the office pages show and take times (stored in UTC)

    [audit]
    compliance_target_pct = 95    # the backup audit shows each engineer against it

Every key is optional; anything left out keeps its default.

>>> at = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
>>> d = deadlines(1, at)
>>> (d.respond_by - at, d.onsite_by - at)
(datetime.timedelta(seconds=1800), datetime.timedelta(seconds=7200))
"""

from __future__ import annotations

import datetime as dt
import threading
import tomllib
from pathlib import Path
from typing import Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

CONFIG_FILE = "config.toml"

Positive = Annotated[int, Meta(gt=0)]
Seconds = Annotated[float, Meta(gt=0)]
Days = Annotated[int, Meta(ge=0)]


class ConfigError(ValueError):
    """The configuration file cannot be used; the message names the file and the key."""


class SeverityTerms(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What the organisation promises for one severity level, in minutes after the report."""

    respond_minutes: Positive
    onsite_minutes: Positive


# DOMAIN.md: level 1 30 min / 2 h, level 2 1 h / 4 h, level 3 4 h / 24 h, level 4 24 h / 72 h.
DEFAULT_SEVERITY: dict[int, SeverityTerms] = {
    1: SeverityTerms(respond_minutes=30, onsite_minutes=2 * 60),
    2: SeverityTerms(respond_minutes=60, onsite_minutes=4 * 60),
    3: SeverityTerms(respond_minutes=4 * 60, onsite_minutes=24 * 60),
    4: SeverityTerms(respond_minutes=24 * 60, onsite_minutes=72 * 60),
}


class SchedulerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How often each scheduled job runs. Every job is idempotent, so these trade load for delay."""

    sla_interval_seconds: Seconds = 60.0
    maintenance_interval_seconds: Seconds = 3600.0
    housekeeping_interval_seconds: Seconds = 6 * 3600.0


class MaintenanceConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Preventive maintenance (DOMAIN.md: every 2 weeks for 3 months after handover, then monthly)."""

    early_every_days: Positive = 14
    early_months: Days = 3
    severity: Annotated[int, Meta(ge=1, le=4)] = 4
    # Generate checks this many days ahead, so dispatchers can plan the week.
    horizon_days: Days = 7
    # Checks due longer ago than this are not generated: a site entered with a handover years
    # back gets its next checks, not a hundred overdue ones.
    backfill_days: Days = 31


class HousekeepingConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Retention of stored push answers, tombstones, unfinished uploads and unreferenced files."""

    applied_retention_days: Positive = 30
    tombstone_retention_days: Positive = 90
    # An upload nobody added a chunk to for this long is deleted (the laptop resumes from 0).
    partial_upload_retention_days: Positive = 7
    # A complete file no record names, untouched this long, is deleted (see housekeeping.py).
    unreferenced_blob_grace_days: Positive = 30


class SecurityConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What strangers get (read at start: a change needs a restart). See README, "Hardening"."""

    # Requests without a token (enrollment, office sign-in) served at once; more answer 429.
    unauthenticated_concurrency: Positive = 16
    # Such a request must have sent its (small) body within this many seconds.
    unauthenticated_timeout_seconds: Seconds = 10.0
    # Failed enrollments and sign-ins allowed per window, per client address and per token
    # prefix (the first ``token_prefix_length`` characters); then 429 until the window moves.
    failures_per_address: Positive = 20
    failures_per_token_prefix: Positive = 10
    failure_window_seconds: Seconds = 300.0
    token_prefix_length: Positive = 16
    # Office cookies only over HTTPS: set when a TLS proxy is in front (it must be, in production).
    secure_cookies: bool = False
    # Bytes of unfinished uploads one device may have declared at once.
    upload_quota_bytes: Positive = 4 * 1024**3


class OfficeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The office pages: the language of a browser that asks for none fieldsync speaks (a
    person's choice on the page and their browser's ``Accept-Language`` come first), and the
    time zone (an IANA name, ``Asia/Shanghai``) where the pages show and read times; every
    time is stored in UTC whatever it says."""

    language: Literal["zh_Hans", "en"] = "en"  # sync_protocol.locales.SUPPORTED
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise msgspec.ValidationError(f"no time zone {self.timezone!r} - at `$.office.timezone`") from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AuditConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The supervisor's backup audit: the share of repaired jobs that must have had a verified
    or waived backup first; the page colours each engineer against it."""

    compliance_target_pct: Annotated[float, Meta(ge=0, le=100)] = 95.0


class BlobsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where blob bytes live (``server/blobstore``; docs/operations.md, "Blob storage"). Read at
    start; ``field-server serve --blobs URL`` overrides it."""

    store: Literal["directory", "s3"] = "directory"
    # store = "directory": the directory, relative to the data directory or absolute.
    directory: str = ""
    # store = "s3": the bucket, a key prefix, the endpoint of a service other than AWS, the region.
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    region: str = ""
    # The names of the environment variables holding the credentials (never the secrets themselves).
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"


class Config(msgspec.Struct, frozen=True):
    # The store: ``sqlite:///PATH`` or ``postgresql://...``; unset, ``DATA_DIR/fieldsync.db``.
    database: str | None = None
    severity: dict[int, SeverityTerms] = msgspec.field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    scheduler: SchedulerConfig = SchedulerConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()
    housekeeping: HousekeepingConfig = HousekeepingConfig()
    security: SecurityConfig = SecurityConfig()
    office: OfficeConfig = OfficeConfig()
    audit: AuditConfig = AuditConfig()
    blobs: BlobsConfig = BlobsConfig()


DEFAULT = Config()


class Deadlines(NamedTuple):
    respond_by: dt.datetime
    onsite_by: dt.datetime


def parse(text: str, source: str = CONFIG_FILE) -> Config:
    """A ``Config`` from TOML text; unknown sections or keys are errors (they are typos)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    unknown = set(raw) - set(Config.__struct_fields__)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)}; known: {list(Config.__struct_fields__)}")
    severity = dict(DEFAULT_SEVERITY)
    try:
        given = msgspec.convert(raw.get("severity", {}), dict[int, SeverityTerms], str_keys=True)
        for level, terms in given.items():
            if level not in DEFAULT_SEVERITY:
                raise ConfigError(f"{source}: severity.{level}: levels are 1 to 4")
            if terms.onsite_minutes < terms.respond_minutes:
                raise ConfigError(f"{source}: severity.{level}: onsite_minutes is before respond_minutes")
            severity[level] = terms
        rest = msgspec.convert({k: v for k, v in raw.items() if k != "severity"}, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if rest.blobs.store == "s3" and not rest.blobs.bucket:
        raise ConfigError(f'{source}: blobs.bucket: store = "s3" needs the bucket\'s name')
    return msgspec.structs.replace(rest, severity=severity)


_cache: dict[Path, tuple[float, Config]] = {}
_cache_lock = threading.Lock()


def load(data_dir: str | Path) -> Config:
    """The configuration of the server whose data directory is ``data_dir`` (defaults when there
    is no ``config.toml``). Re-read when the file changes, so an edited policy applies to the
    next intake without a restart."""
    path = Path(data_dir) / CONFIG_FILE
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return DEFAULT
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    config = parse(path.read_text(encoding="utf-8"), str(path))
    with _cache_lock:
        _cache[path] = (mtime, config)
    return config


def terms(severity: int, config: Config | str | Path | None = None) -> SeverityTerms:
    cfg = _config(config)
    if severity not in cfg.severity:
        raise ValueError(f"severity must be 1 to 4, not {severity!r}")
    return cfg.severity[severity]


def deadlines(severity: int, reported_at: dt.datetime, config: Config | str | Path | None = None) -> Deadlines:
    """Respond-by and on-site-by for a fault of ``severity`` reported at ``reported_at``.

    ``config`` is a ``Config``, or the server's data directory (its ``config.toml`` is read), or
    None for the DOMAIN.md defaults. Pass the data directory from the office intake so that the
    organisation's own numbers apply.
    """
    if reported_at.tzinfo is None:
        raise ValueError("reported_at must be timezone-aware")
    t = terms(severity, config)
    return Deadlines(
        reported_at + dt.timedelta(minutes=t.respond_minutes), reported_at + dt.timedelta(minutes=t.onsite_minutes)
    )


def _config(config: Config | str | Path | None) -> Config:
    if config is None:
        return DEFAULT
    if isinstance(config, Config):
        return config
    return load(config)
