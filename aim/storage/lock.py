"""The per-run writer lock: ``fcntl.flock`` on ``runs/<hash>/LOCK``.

flock locks belong to an open file description and the kernel drops them when the last
descriptor closes, so a killed writer never leaves a stale lock. The holder writes its pid
into the file so that a refused writer can say who holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

from aim.errors import RunLockedError


class RunLock:
    """An exclusive, non-blocking writer lock on one run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise ``RunLockedError`` naming the holder's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_holder_pid(self.path)
            who = f"process {pid}" if pid else "another process"
            run_hash = self.path.parent.name
            raise RunLockedError(
                f"run {run_hash} is open for writing by {who}",
                pid=pid,
                hint="close it there first, or open it with read_only=True",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (closing the descriptor releases it in the kernel)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def forget(self) -> None:
        """Drop the descriptor in a forked child without unlocking the parent's lock.

        ``flock(LOCK_UN)`` would release the lock for the parent too (same open file
        description); closing our copy does not.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


def create_locked(run_dir: Path, staging: Path, lock_name: str = "LOCK") -> RunLock:
    """Create ``run_dir`` with its lock already held by this process.

    The directory is made as ``staging`` (under ``tmp/``), locked there, then renamed into
    place: no process ever sees the run directory without its live writer's lock, so a run
    directory that holds no segment and whose locks are free is a writer that died before its
    first write (``aim storage verify --repair`` removes it). The flock belongs to the open
    file, so it survives the rename. ``lock_name`` may be a path inside the run directory
    (``streams/rank-1/LOCK``: a rank that creates the run it joins). ``FileExistsError`` when
    ``run_dir`` exists, or appears meanwhile (another rank created it first).
    """
    if run_dir.exists():
        raise FileExistsError(f"{run_dir} exists")
    (staging / lock_name).parent.mkdir(parents=True)
    lock = RunLock(staging / lock_name)
    try:
        lock.acquire()
        os.rename(staging, run_dir)
    except BaseException as exc:
        lock.release()
        shutil.rmtree(staging, ignore_errors=True)  # a leftover in tmp/: verify --repair sweeps it
        if isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(f"{run_dir} exists") from None
        raise
    lock.path = run_dir / lock_name
    return lock


class RunLocks:
    """The locks of every stream of one run, taken together (``RunLockedError`` naming the
    first live holder, nothing held), so that maintenance never runs beside any writer."""

    def __init__(self, paths: list[Path]) -> None:
        self.locks = [RunLock(p) for p in paths]

    def acquire(self) -> None:
        """Take every lock, or none."""
        taken: list[RunLock] = []
        try:
            for lock in self.locks:
                lock.path.parent.mkdir(parents=True, exist_ok=True)
                lock.acquire()
                taken.append(lock)
        except BaseException:
            for lock in taken:
                lock.release()
            raise

    def release(self) -> None:
        """Release every lock."""
        for lock in self.locks:
            lock.release()


def read_holder_pid(path: Path) -> int | None:
    """The pid the current (or last) holder wrote, if readable."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_locked(path: Path) -> bool:
    """True when a live writer holds the lock at ``path`` (probe without taking it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        # Closing our own descriptor drops only our probe, never another holder's lock.
        os.close(fd)
    return False
