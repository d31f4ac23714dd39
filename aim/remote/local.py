"""A directory as an object store (``ObjectStore``): the same keys and the same immutability
as S3, for a shared filesystem (NFS, Lustre) between machines, or a disk to back up to.

An object is the file ``<root>/<key>``. A put writes a temporary file, fsyncs it, then ``link``s
it to its key: ``link`` fails when the name exists, which makes put-if-absent atomic even
between machines sharing the filesystem (``rename`` would replace). The winning put then
records the SHA-256 as ``<root>/.sha256/<key>``; an object without one (its put died before) is
hashed when asked. Keys are checked to stay inside the root.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from aim.errors import RemoteError
from aim.remote.store import conflict
from aim.storage.transfer import file_sha256

_SIDECAR = ".sha256"
_TMP = ".tmp"


class LocalStore:
    """``ObjectStore`` over a directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.bucket = str(self.root)

    @property
    def where(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str, base: Path | None = None) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in key \
                or parts[0] in (_SIDECAR, _TMP):
            raise RemoteError(f"bad key {key[:80]!r} for {self.where}")
        return (base or self.root).joinpath(*parts)

    def bucket_exists(self) -> bool:
        return self.root.is_dir()

    def ensure_bucket(self) -> bool:
        if self.root.is_dir():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        return True

    def list_objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        if not self.root.is_dir():
            return
        for folder, dirs, files in os.walk(self.root):
            if folder == str(self.root):
                dirs[:] = [d for d in dirs if d not in (_SIDECAR, _TMP)]
            rel = os.path.relpath(folder, self.root)
            for name in sorted(files):
                key = name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"
                if key.startswith(prefix):
                    yield key, os.stat(os.path.join(folder, name)).st_size

    def put_immutable(self, key: str, data: bytes, sha256: str) -> bool:
        target = self._path(key)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RemoteError(f"{key}: the bytes to store do not match the SHA-256 given")
        tmp_dir = self.root / _TMP
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{secrets.token_hex(8)}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, target)  # fails if the key exists: put-if-absent, atomically
            except FileExistsError:
                there = self.remote_sha256(key)
                if there == sha256:
                    return False
                raise conflict(key, self.where, there, sha256) from None
            _fsync_dir(target.parent)
            self._write_sidecar(key, sha256)  # only by the put that won the key
            return True
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise RemoteError(f"cannot write {key} to {self.where}: the disk is full") from None
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def _write_sidecar(self, key: str, sha256: str) -> None:
        # Written after the object appears, by the put that created it; an object whose put
        # died before this has none, and its readers hash its bytes instead.
        side = self._path(key, self.root / _SIDECAR)
        side.parent.mkdir(parents=True, exist_ok=True)
        tmp = side.with_name(f".{side.name}.{secrets.token_hex(4)}")
        tmp.write_text(sha256)
        os.replace(tmp, side)

    def remote_sha256(self, key: str) -> str | None:
        path = self._path(key)
        return file_sha256(path) if path.is_file() else None

    def get_bytes(self, key: str) -> tuple[bytes, str | None]:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            err = RemoteError(f"no object {key} in {self.where}")
            err.code = "NoSuchKey"  # type: ignore[attr-defined]
            raise err from None
        return data, self._recorded(key)

    def _recorded(self, key: str) -> str | None:
        try:
            return self._path(key, self.root / _SIDECAR).read_text().strip() or None
        except FileNotFoundError:
            return None

    def download_to(self, key: str, out: BinaryIO) -> tuple[str, str | None]:
        digest = hashlib.sha256()
        try:
            fh = open(self._path(key), "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            raise RemoteError(f"no object {key} in {self.where}") from None
        with fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest(), self._recorded(key)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
