"""Where blob bytes live: one interface (``BlobStore``), two stores.

- ``DirectoryStore`` (``directory.py``): the default, ``DATA/blobs``, or any directory several
  server processes share.
- ``S3Store`` (``s3.py``): a bucket of S3-compatible object storage.

``open_store`` chooses, from ``--blobs URL`` when given, else from ``[blobs]`` in
``config.toml``, else the directory under ``--data``::

    file:///srv/fieldsync/blobs
    s3://BUCKET/OPTIONAL/PREFIX?endpoint=http://127.0.0.1:9000&region=us-east-1

S3 credentials are never in a URL or the config file: they are read from the environment
variables the config names (by default ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``), or
boto3's usual chain (its config files, an instance role) when those are unset.

What the bytes are *for* (who uploaded them, who may read them, when they may be collected)
lives in the database, not here: ``blobs.py`` and the storage layer.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..policy import BlobsConfig, ConfigError
from .base import (
    MAX_BLOB_BYTES,
    READ_CHUNK,
    SHA256_RE,
    BlobStore,
    BlobStoreUnavailable,
    UploadState,
    check_sha,
    check_size,
    file_sha256,
)
from .directory import DirectoryStore

__all__ = [
    "MAX_BLOB_BYTES",
    "READ_CHUNK",
    "SHA256_RE",
    "BlobStore",
    "BlobStoreUnavailable",
    "DirectoryStore",
    "UploadState",
    "check_sha",
    "check_size",
    "file_sha256",
    "open_store",
    "config_from_url",
]

DEFAULT_DIRECTORY = "blobs"


def config_from_url(url: str) -> BlobsConfig:
    """``--blobs URL`` as the ``[blobs]`` settings it stands for (``ConfigError`` naming what is wrong)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path or query:
            raise ConfigError(f"--blobs {url}: a directory is file:///ABSOLUTE/PATH")
        return BlobsConfig(store="directory", directory=parts.path)
    if parts.scheme == "s3":
        unknown = set(query) - {"endpoint", "region", "access_key_env", "secret_key_env"}
        if not parts.netloc or unknown:
            raise ConfigError(
                f"--blobs {url}: s3://BUCKET/PREFIX?endpoint=URL&region=NAME"
                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
            )
        defaults = BlobsConfig()
        return BlobsConfig(
            store="s3",
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint_url=query.get("endpoint", ""),
            region=query.get("region", ""),
            access_key_env=query.get("access_key_env", defaults.access_key_env),
            secret_key_env=query.get("secret_key_env", defaults.secret_key_env),
        )
    raise ConfigError(f"--blobs {url}: use file:///PATH or s3://BUCKET?endpoint=URL")


def open_store(data_dir: Path, config: BlobsConfig, url: str | None = None) -> BlobStore:
    """The blob store of the server whose data directory is ``data_dir``: ``url`` (``--blobs``)
    when given, else ``config`` (``[blobs]`` of its ``config.toml``)."""
    chosen = config_from_url(url) if url else config
    if chosen.store == "directory":
        return DirectoryStore(data_dir / (chosen.directory or DEFAULT_DIRECTORY))
    from .s3 import S3Store

    return S3Store(
        chosen.bucket,
        prefix=chosen.prefix,
        endpoint_url=chosen.endpoint_url or None,
        region=chosen.region or None,
        access_key=os.environ.get(chosen.access_key_env) or None,
        secret_key=os.environ.get(chosen.secret_key_env) or None,
    )
