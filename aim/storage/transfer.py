"""Place a run's files into another repository: hard-link when possible, else copy+verify.

The run is assembled under ``.aim/tmp/`` of the destination and renamed into ``runs/`` in one
step, so a destination never shows half a run; a crash leaves only a temp folder, which
``verify --repair`` (and the next copy) removes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from aim.storage.layout import RepoLayout, pid_alive


class DestinationExistsError(FileExistsError):
    """The destination already has a run with this hash."""


@dataclass
class PlaceResult:
    """How the segments got there."""

    linked: int = 0
    copied: int = 0
    bytes: int = 0


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def place_run(files: list[Path], src_dir: Path, dest: RepoLayout, run_hash: str) -> PlaceResult:
    """Put a run's ``files`` (``RepoLayout.run_files``: sealed segments, blobs), found under
    ``src_dir``, into ``dest`` as run ``run_hash``, at the same places in its directory."""
    target = dest.run_dir(run_hash)
    if target.exists():
        raise DestinationExistsError(f"run {run_hash} already exists in {dest.root}")
    dest.tmp.mkdir(parents=True, exist_ok=True)
    work = dest.tmp / f"{run_hash}.{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    (work / "events").mkdir(parents=True)
    result = PlaceResult()
    try:
        for seg in files:
            out = work / seg.relative_to(src_dir)
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(seg, out)
                result.linked += 1
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                shutil.copyfile(seg, out)
                with open(out, "rb") as fh:
                    os.fsync(fh.fileno())
                if file_sha256(seg) != file_sha256(out):
                    raise OSError(errno.EIO, f"copy of {seg} does not match its source") from None
                result.copied += 1
            result.bytes += out.stat().st_size
        try:
            # rename() onto an existing empty directory would succeed: check, then rename.
            if target.exists():
                raise DestinationExistsError(f"run {run_hash} already exists in {dest.root}")
            os.rename(work, target)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise DestinationExistsError(f"run {run_hash} already exists in {dest.root}") from None
            raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def remove_run_dir(layout: RepoLayout, run_hash: str) -> int:
    """Remove a run's directory crash-safely: rename into trash/, then delete. Returns bytes."""
    src = layout.run_dir(run_hash)
    layout.trash.mkdir(exist_ok=True)
    doomed = layout.trash / f"{run_hash}.{os.getpid()}"
    size = dir_size(src)
    os.rename(src, doomed)  # from here on the run is gone from runs/: atomic
    shutil.rmtree(doomed, ignore_errors=True)
    return size


def dir_size(path: Path) -> int:
    """Total bytes of the files under ``path``."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total


def sweep_leftovers(layout: RepoLayout) -> list[Path]:
    """Delete what a crashed copy or prune left in tmp/ and trash/; return what was removed."""
    removed = []
    for area in (layout.tmp, layout.trash):
        try:
            entries = sorted(area.iterdir())
        except FileNotFoundError:
            continue
        for entry in entries:
            pid = entry.name.rpartition(".")[2]
            if area == layout.tmp and pid.isdigit() and pid_alive(int(pid)):
                continue  # a copy in progress in a live process
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
            removed.append(entry)
    return removed


def list_leftovers(layout: RepoLayout) -> list[Path]:
    """Entries in tmp/ and trash/ (left by crashed copies or prunes, or in progress)."""
    out: list[Path] = []
    for area in (layout.tmp, layout.trash):
        try:
            out += sorted(area.iterdir())
        except FileNotFoundError:
            pass
    return out
