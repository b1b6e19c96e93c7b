"""Drawings, photos and signature images on the laptop, named by the SHA-256 of their bytes.

Content addressing makes every transfer resumable and checkable: an upload continues at the
offset the server holds, a download continues from the bytes already on disk (``Range``), and
a file is only ever put in place after its hash matches its name. A file already in the cache
is never downloaded again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from sync_protocol import BLOB_CHUNK_BYTES, BlobStatus, ChecksumMismatch, OffsetMismatch, sync_path

from .transport import Transport, is_transient

_READ = 1024 * 1024


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        (self.root / "partial").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        """Whether the file is in the cache: one stat, on a path built as a string. Every sync
        asks it of every drawing the laptop holds; with ``pathlib`` it was half of a no-op sync
        of a laptop holding 100 drawings."""
        return os.path.isfile(os.path.join(self._root, sha256[:2], sha256))

    def named(self, sha256: str, target: Path) -> Path | None:
        """The cached file also at ``target``, a name people and viewers understand (``.png``,
        ``.pdf``): a hard link to the same bytes (a copy where links are not possible). None
        while the file is not in the cache."""
        source = self.path(sha256)
        if not source.is_file():
            return None
        if target.is_file() and os.path.samefile(source, target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:  # a file system without hard links
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return target

    def add_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self._install(sha, lambda out: out.write(data))
        return sha

    def add_file(self, source: Path) -> str:
        sha = file_sha256(source)
        if not self.has(sha):
            with open(source, "rb") as src:
                self._install(sha, lambda out: shutil.copyfileobj(src, out, _READ))
        return sha

    def _install(self, sha: str, write: Callable[[BinaryIO], object]) -> None:
        target = self.path(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root / "partial", prefix=".add-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- transfers ---------------------------------------------------------------------------

    def upload(
        self, transport: Transport, sha256: str, media_type: str, chunk: int = BLOB_CHUNK_BYTES, attempts: int = 5
    ) -> int:
        """Send a cached file, resuming at the server's offset; returns bytes sent."""
        path = self.path(sha256)
        size = path.stat().st_size
        status = transport.get(sync_path(f"blobs/{sha256}/status"), BlobStatus)
        offset, sent = status.offset, 0
        if status.complete:
            return 0
        with open(path, "rb") as src:
            while True:
                src.seek(offset)
                data = src.read(chunk)
                try:
                    status = transport.put(
                        sync_path(f"blobs/{sha256}"),
                        data,
                        {"offset": offset, "size": size, "media_type": media_type},
                        BlobStatus,
                    )
                except OffsetMismatch as exc:  # a retried chunk had landed, or another upload ran
                    attempts -= 1
                    if attempts <= 0:
                        raise
                    offset = int(exc.detail.get("offset", 0))
                    continue
                sent += len(data)
                if status.complete:
                    return sent
                offset = status.offset

    def download(self, transport: Transport, sha256: str, size: int | None = None, attempts: int = 5) -> int:
        """Fetch a blob into the cache, resuming a cut download; refuses bytes that do not match
        their hash (``ChecksumMismatch``, nothing kept). Returns the bytes received."""
        if self.has(sha256):
            return 0
        partial = self.root / "partial" / sha256
        received = 0
        for attempt in range(attempts):
            start = partial.stat().st_size if partial.exists() else 0
            if size is not None and start >= size:
                break
            try:
                received += self._fetch(transport, sha256, partial, start)
                break
            except Exception as exc:
                if not is_transient(exc) or attempt == attempts - 1:
                    raise
        self._verify_and_install(sha256, partial)
        return received

    def _fetch(self, transport: Transport, sha256: str, partial: Path, start: int) -> int:
        received = 0
        with transport.stream(sync_path(f"blobs/{sha256}"), start) as response:
            mode = "ab" if response.status_code == 206 else "wb"  # 200: the whole file again
            with open(partial, mode) as out:
                for data in response.iter_bytes():  # as received: a cut keeps every byte
                    out.write(data)
                    received += len(data)
                out.flush()
                os.fsync(out.fileno())
        return received

    def _verify_and_install(self, sha256: str, partial: Path) -> None:
        actual = file_sha256(partial)
        if actual != sha256:
            partial.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"downloaded bytes hash to {actual}, not {sha256}: refused", field="sha256", actual=actual
            )
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while data := src.read(_READ):
            digest.update(data)
    return digest.hexdigest()
