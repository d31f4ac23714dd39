"""Artifacts: files (checkpoints, configs) copied to a run's artifact URI, each recorded by an
event with its name, URI, size and SHA-256 (Aim's ``set_artifacts_uri``/``log_artifact``).

Two stores, chosen by the URI's scheme: ``file:///path`` (copied, fsynced, its SHA-256 checked
against the source's) and ``s3://bucket/prefix`` (the same ``S3Store`` as ``aim runs upload``:
written only where no object is, checksummed by S3; the endpoint from ``$AWS_ENDPOINT_URL``).
An artifact lands at ``<uri>/<run hash>/<name>``, as in Aim. Unlike Aim, a failed upload raises
(Aim logs and goes on): a checkpoint that did not get there must not look as if it had.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from aim.errors import AimError
from aim.storage.transfer import file_sha256

SCHEMES = ("file", "s3")


class ArtifactError(AimError, ValueError):
    """An artifact URI or name that cannot be used, or an upload that did not complete."""


@dataclass(frozen=True)
class Artifact:
    """A logged artifact (Aim's ``Artifact``): ``name``, ``path`` (where it was read from),
    ``uri`` (where it is), ``size``, ``sha256``."""

    name: str
    path: str
    uri: str
    size: int
    sha256: str

    def download(self, dest_dir: str | os.PathLike[str]) -> str:
        """Copy the artifact into ``dest_dir`` (its base name); return the path. Its SHA-256 is
        checked against the recorded one."""
        dest = Path(dest_dir) / PurePosixPath(self.name).name
        Path(dest_dir).mkdir(parents=True, exist_ok=True)
        parsed = urlparse(self.uri)
        if parsed.scheme == "file":
            shutil.copyfile(parsed.path, dest)
        else:
            store = _s3(parsed.netloc)
            with open(dest, "wb") as out:
                store.download_to(parsed.path.lstrip("/"), out)
        if file_sha256(dest) != self.sha256:
            dest.unlink(missing_ok=True)
            raise ArtifactError(f"artifact {self.name}: the bytes at {self.uri} are not the ones logged")
        return str(dest)

    def json(self) -> dict[str, Any]:
        """What the event records."""
        return {"name": self.name, "path": self.path, "uri": self.uri, "size": self.size, "sha256": self.sha256}


def check_uri(uri: Any) -> str:
    """``uri`` if it is a ``file://`` or ``s3://`` URI, else ``ArtifactError``."""
    if not isinstance(uri, str) or "://" not in uri:
        raise ArtifactError(f"artifacts_uri must start with a scheme, file:// or s3://, got {str(uri)[:80]!r}")
    parsed = urlparse(uri)
    if parsed.scheme not in SCHEMES:
        raise ArtifactError(f"artifacts_uri scheme {parsed.scheme!r} is not supported: file:// or s3://")
    if parsed.scheme == "s3" and not parsed.netloc:
        raise ArtifactError(f"artifacts_uri {uri!r} names no bucket")
    if parsed.scheme == "file" and (parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/")):
        raise ArtifactError(f"artifacts_uri {uri!r}: a file:// URI takes an absolute path (file:///path)")
    return uri.rstrip("/")


def check_name(name: Any) -> str:
    """An artifact name: a relative path of non-empty parts, no ``..`` (it becomes a path)."""
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise ArtifactError(f"an artifact name is a non-empty str, got {str(name)[:80]!r}")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or any(p in ("..", ".") for p in parts) or "\x00" in name:
        raise ArtifactError(f"artifact name {name!r} must be a relative path without '..'")
    return "/".join(parts)


def upload(src: str | os.PathLike[str], base_uri: str, run_hash: str, name: str) -> Artifact:
    """Copy ``src`` to ``<base_uri>/<run_hash>/<name>`` and describe it."""
    path = Path(src)
    if not path.is_file():
        raise ArtifactError(f"artifact {name}: {path} is not a file")
    sha = file_sha256(path)
    size = path.stat().st_size
    uri = f"{base_uri}/{run_hash}/{name}"
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        dest = Path(parsed.path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(path, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if file_sha256(tmp) != sha:
            tmp.unlink(missing_ok=True)
            raise ArtifactError(f"artifact {name}: the copy at {dest} does not match {path}")
        os.replace(tmp, dest)
    else:
        store = _s3(parsed.netloc)
        store.ensure_bucket()
        # False when these bytes were there already (logged again: nothing rewritten); other
        # bytes at that key raise RemoteConflictError, and nothing is overwritten.
        store.put_immutable(parsed.path.lstrip("/"), path.read_bytes(), sha)
    return Artifact(name, str(path), uri, size, sha)


def _s3(bucket: str) -> Any:
    from aim.remote.s3 import S3Store

    return S3Store(bucket, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)

