"""Where things live under ``.aim``: paths, the VERSION line, segment names.

Every path built from a run hash goes through ``RepoLayout.run_dir``, which validates the
hash first, so a user string can never walk out of the repository.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from aim.errors import NotADirectoryRepoError, RepoFormatError, RepoNotFoundError
from aim.storage.blobs import BLOBS_DIR, parse_blob_name
from aim.storage.hashes import validate_run_hash

AIM_DIR = ".aim"
FORMAT_NAME = "aim-eventlog"
FORMAT_VERSION = 1
VERSION_LINE = f"{FORMAT_NAME} {FORMAT_VERSION}\n"
SEGMENT_RE = re.compile(r"^(\d{8})\.jsonl\.zst\Z")


def segment_name(number: int) -> str:
    """File name of segment ``number`` (``00000007.jsonl.zst``)."""
    if not 0 <= number <= 99_999_999:
        raise ValueError(f"segment number out of range: {number}")
    return f"{number:08d}.jsonl.zst"


def segment_numbers_in(events_dir: Path) -> list[int]:
    """Sorted numbers of the segments in ``events_dir`` (empty when there is none)."""
    try:
        names = os.listdir(events_dir)
    except FileNotFoundError:
        return []
    return sorted(n for n in map(parse_segment_name, names) if n is not None)


def parse_segment_name(name: str) -> int | None:
    """Segment number of a file name, or None when the name is not a segment's."""
    m = SEGMENT_RE.match(name)
    return int(m.group(1)) if m else None


def resolve_aim_dir(path: str | os.PathLike[str]) -> Path:
    """The ``.aim`` directory for ``path``: either the folder holding ``.aim`` or ``.aim`` itself."""
    p = Path(path).expanduser()
    if p.name == AIM_DIR:
        return p.absolute()
    return (p / AIM_DIR).absolute()


class RepoLayout:
    """Paths inside one ``.aim`` directory."""

    def __init__(self, aim_dir: Path) -> None:
        self.root = aim_dir
        self.runs = aim_dir / "runs"
        self.index_dir = aim_dir / "index"
        self.version_file = aim_dir / "VERSION"
        # Work areas on the same filesystem as runs/, so that placing or removing a run is one
        # atomic rename: tmp/ holds runs being copied in, trash/ runs being removed by prune.
        self.tmp = aim_dir / "tmp"
        self.trash = aim_dir / "trash"

    def run_dir(self, run_hash: str) -> Path:
        """The directory of a run; the hash is validated before it becomes a path."""
        return self.runs / validate_run_hash(run_hash)

    def events_dir(self, run_hash: str) -> Path:
        """The directory holding a run's segments."""
        return self.run_dir(run_hash) / "events"

    def lock_file(self, run_hash: str) -> Path:
        """The run's writer lock file."""
        return self.run_dir(run_hash) / "LOCK"

    @property
    def index_db(self) -> Path:
        """The SQLite file of the materialized index."""
        return self.index_dir / "index.sqlite"

    def check(self) -> None:
        """Raise a precise error unless this is a usable repository of a format we read."""
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryRepoError(f"{self.root} exists but is not a directory")
        if not self.root.is_dir():
            parent = self.root.parent
            if parent.exists() and not parent.is_dir():
                raise NotADirectoryRepoError(f"{parent} is a file, not a directory")
            raise RepoNotFoundError(
                f"no aim repository at {parent}", hint=f"run `aim init --repo {parent}`"
            )
        try:
            line = self.version_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise RepoFormatError(f"{self.root} has no VERSION file; not an aim-eventlog repository") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RepoFormatError(f"cannot read {self.version_file}: {exc}") from None
        name, _, version = line.partition(" ")
        if name != FORMAT_NAME or not version.isdigit():
            raise RepoFormatError(f"{self.version_file} says {line!r}; expected '{FORMAT_NAME} N'")
        if int(version) > FORMAT_VERSION:
            raise RepoFormatError(
                f"repository format {version} is newer than this aim reads ({FORMAT_VERSION})",
                hint="upgrade aim: pip install -U aim",
            )

    def init(self) -> bool:
        """Create the repository if missing; return True when it was created."""
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryRepoError(f"{self.root} exists but is not a directory")
        parent = self.root.parent
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryRepoError(f"{parent} is a file, not a directory")
        created = False
        if not self.root.exists():
            created = self._create_whole()
        if not self.version_file.exists():
            # A .aim without VERSION (made by hand, or by an aim before init was atomic):
            # complete it in place. The rename is atomic: racing initialisers end with one.
            self.runs.mkdir(parents=True, exist_ok=True)
            self.index_dir.mkdir(exist_ok=True)
            tmp = self.root / f"VERSION.{os.getpid()}.tmp"
            tmp.write_text(VERSION_LINE, encoding="utf-8")
            os.replace(tmp, self.version_file)
            created = True
        self.check()
        self.runs.mkdir(exist_ok=True)
        self.index_dir.mkdir(exist_ok=True)
        return created

    def _create_whole(self) -> bool:
        """Create the repository as one rename: built beside it as ``<name>.init.<pid>``
        (VERSION, runs/, index/), then renamed into place, so a kill mid-init never leaves a
        ``.aim`` without VERSION. Return False when another process created it first."""
        parent = self.root.parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f"{self.root.name}.init.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)  # our pid's leftover from a killed init
        staging.mkdir()
        (staging / "runs").mkdir()
        (staging / "index").mkdir()
        (staging / "VERSION").write_text(VERSION_LINE, encoding="utf-8")
        try:
            os.rename(staging, self.root)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not self.root.is_dir():
                raise
            return False  # another initialiser won the rename
        self._sweep_dead_inits(parent)
        return True

    def _sweep_dead_inits(self, parent: Path) -> None:
        """Remove ``<name>.init.<pid>`` folders that killed initialisers left beside the repo."""
        for entry in parent.glob(f"{self.root.name}.init.*"):
            pid = entry.name.rpartition(".")[2]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)

    def segment_numbers(self, run_hash: str) -> list[int]:
        """Sorted segment numbers of a run (empty when it has none)."""
        return segment_numbers_in(self.events_dir(run_hash))

    def segment_paths(self, run_hash: str) -> list[Path]:
        """A run's segment files in order."""
        d = self.events_dir(run_hash)
        return [d / segment_name(n) for n in self.segment_numbers(run_hash)]

    def blobs_dir(self, run_hash: str) -> Path:
        """The directory holding a run's blobs (``storage/blobs.py``)."""
        return self.run_dir(run_hash) / BLOBS_DIR

    def blob_paths(self, run_hash: str) -> list[Path]:
        """A run's blob files, by name (temporary files of a blob being written are not)."""
        d = self.blobs_dir(run_hash)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        return [d / n for n in sorted(names) if parse_blob_name(n) is not None]

    def run_files(self, run_hash: str) -> list[Path]:
        """The files that make up a run, the one definition copy, move, upload, download and
        verify work from: its segments in order, then its blobs. (``LOCK`` is the live
        writer's, not the run's.)"""
        return self.segment_paths(run_hash) + self.blob_paths(run_hash)


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists (this one included): work areas named after a pid
    (``tmp/<hash>.<pid>``, ``.aim.init.<pid>``) belong to a live process or to a dead one."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
