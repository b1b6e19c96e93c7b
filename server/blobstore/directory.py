"""Blobs in a directory (the default: ``DATA/blobs``), safe for several server processes sharing it.

Layout::

    blobs/ab/abcdef...          a complete, verified blob, named by its SHA-256
    blobs/partial/<sha>         the bytes of an upload in progress: its size IS the resume offset
    blobs/partial/<sha>.size    the total size the upload was started with
    blobs/partial/<sha>.lock    the upload's lock (``flock``)
    blobs/tmp/                  files being written under a unique name before their rename

Why it is safe for several processes (on one host, or on a shared file system with working
``flock``, e.g. NFSv4):

- Every change to an upload (a chunk appended, the last chunk verified, housekeeping dropping
  it) happens under an exclusive ``flock`` of ``<sha>.lock``, taken by whichever process
  received the request. The offset check, the append and the verification therefore see one
  upload, whichever process the previous chunk reached: a laptop whose retry lands on another
  process resumes where the first left off, and two processes receiving chunks of the same
  upload at once serialize (the second is told the new offset, ``409``). The lock file is
  removed with the upload; a process that locked a removed lock file notices (the path no
  longer names the inode it locked) and locks again, so two holders never coexist.
- The verified bytes become visible by one atomic ``rename`` (the partial file, once it hashes
  to its name, onto ``ab/<sha>``); files added whole (fixtures, office uploads) are written to a
  unique name in ``tmp/`` while they are hashed and renamed onto their hash. A reader sees the
  whole blob or none, and two processes adding the same blob rename identical bytes.
- A crash loses nothing acknowledged: each chunk is fsynced before its answer, and the partial
  file's size is the offset the laptop is told on its next try.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from .base import READ_CHUNK, SHA256_RE, UploadState, check_chunk, complete, check_sha, check_size, mismatch


class DirectoryStore:
    """The ``BlobStore`` over a local or shared directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial = root / "partial"
        self.tmp = root / "tmp"
        self.partial.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        # flock excludes other open files even in this process, but some shared file systems
        # emulate it with per-process locks: threads of one process also take a lock of their own.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.root)!r})"

    @property
    def location(self) -> str:
        return self.root.resolve().as_uri()

    def path(self, sha256: str) -> Path:
        check_sha(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def state(self, sha256: str) -> UploadState:
        done = complete(self, sha256)
        if done is not None:
            return done
        partial = self.partial / sha256
        try:
            have = partial.stat().st_size
        except FileNotFoundError:
            have = 0
        return UploadState(have, False, self._declared(sha256))

    def _declared(self, sha256: str) -> int | None:
        """The total size an upload in progress was started with (None: none started)."""
        try:
            return int((self.partial / f"{sha256}.size").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write_chunk(self, sha256: str, offset: int, size: int, data: bytes) -> UploadState:
        check_sha(sha256)
        check_size(size)
        if self.has(sha256):
            return self.state(sha256)
        with self._locked(sha256):
            if self.has(sha256):  # completed by another process while this one waited
                (self.partial / f"{sha256}.lock").unlink(missing_ok=True)  # the one it re-created
                return self.state(sha256)
            partial = self.partial / sha256
            have = partial.stat().st_size if partial.exists() else 0
            declared = self._declared(sha256)
            check_chunk(have, declared, offset, size, len(data))
            if declared != size:
                self._replace(self.partial / f"{sha256}.size", str(size).encode())
            with partial.open("ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if offset + len(data) < size:
                return UploadState(offset + len(data), False, size)
            return self._finish(sha256, partial, size)

    def _finish(self, sha256: str, partial: Path, size: int) -> UploadState:
        """Under the upload's lock: hash the received bytes, then rename them into place or drop them."""
        digest = hashlib.sha256()
        with partial.open("rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                digest.update(chunk)
        actual = digest.hexdigest()
        (self.partial / f"{sha256}.size").unlink(missing_ok=True)
        if actual != sha256:
            partial.unlink()
            (self.partial / f"{sha256}.lock").unlink(missing_ok=True)
            raise mismatch(actual, sha256)
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        (self.partial / f"{sha256}.lock").unlink(missing_ok=True)
        return UploadState(size, True, size)

    def add_file(self, source: Path) -> tuple[str, int]:
        with source.open("rb") as src:
            return self._add(iter(lambda: src.read(READ_CHUNK), b""))

    def add_bytes(self, data: bytes) -> tuple[str, int]:
        return self._add(iter([data]))

    def _add(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Write to a unique name in ``tmp/`` while hashing, then rename onto the hash."""
        digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="add-")
        try:
            with os.fdopen(fd, "wb") as dst:
                for chunk in chunks:
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            sha = digest.hexdigest()
            target = self.path(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(name, target)
        finally:
            Path(name).unlink(missing_ok=True)
        return sha, target.stat().st_size

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        # Opened once: a blob collected meanwhile is still read whole (POSIX keeps the inode).
        with self.path(sha256).open("rb") as fh:
            fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = fh.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def drop_partial(self, sha256: str) -> None:
        with self._locked(check_sha(sha256)):
            (self.partial / sha256).unlink(missing_ok=True)
            (self.partial / f"{sha256}.size").unlink(missing_ok=True)
            (self.partial / f"{sha256}.lock").unlink(missing_ok=True)

    def partials(self) -> list[tuple[str, float]]:
        out = []
        for path in self.partial.iterdir():
            if SHA256_RE.fullmatch(path.name):
                try:
                    out.append((path.name, path.stat().st_mtime))
                except FileNotFoundError:
                    continue
        return out

    def _replace(self, target: Path, content: bytes) -> None:
        """Write a small file whole: a unique temporary name, then a rename over ``target``."""
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="meta-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(name, target)

    @contextlib.contextmanager
    def _locked(self, sha256: str) -> Iterator[None]:
        """The upload's lock, across threads and processes (see the module's docstring)."""
        with self._locks_guard:
            local = self._locks.setdefault(sha256, threading.Lock())
        path = self.partial / f"{sha256}.lock"
        with local:
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if os.stat(path).st_ino == os.fstat(fd).st_ino:
                        break
                except FileNotFoundError:
                    pass  # removed by the holder we waited for: lock the new one
                except BaseException:
                    os.close(fd)
                    raise
                os.close(fd)
            try:
                yield
            finally:
                os.close(fd)
