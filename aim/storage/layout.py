"""Where things live under ``.aim``: paths, the VERSION line, segment names.

Every path built from a run hash goes through ``RepoLayout.run_dir``, which validates the
hash first, so a user string can never walk out of the repository.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from aim.errors import NotADirectoryRepoError, RepoFormatError, RepoNotFoundError
from aim.storage.blobs import BLOBS_DIR, parse_blob_name
from aim.storage.hashes import validate_run_hash
from aim.storage.lock import is_locked

AIM_DIR = ".aim"
FORMAT_NAME = "aim-eventlog"
FORMAT_VERSION = 1
VERSION_LINE = f"{FORMAT_NAME} {FORMAT_VERSION}\n"
SEGMENT_RE = re.compile(r"^(\d{8})\.jsonl\.zst\Z")
# A run is the union of its streams (docs/distributed.md): the primary stream is the run's own
# events/ and LOCK, as a single-process run has always had them; every other writer of the run
# appends to runs/<hash>/streams/<id>/ with its own lock, seq and segments.
PRIMARY = ""
STREAMS_DIR = "streams"
STREAM_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")


def is_stream_id(value: object) -> bool:
    """True for the id of a secondary stream (``rank-3``); the primary's id is ``""``."""
    return isinstance(value, str) and STREAM_ID_RE.match(value) is not None


def validate_stream_id(value: object) -> str:
    """Return ``value`` if it can name a stream (the primary's ``""`` included), else raise
    ``ValueError``: checked before a stream id from a user or a listing becomes a path."""
    if value == PRIMARY or is_stream_id(value):
        return value  # type: ignore[return-value]
    raise ValueError(f"invalid stream id {value!r}: expected 1-64 of a-z, 0-9, '_' and '-'")


def stream_order(stream: str) -> list[Any]:
    """Sort key of stream ids: the primary first, then numbers in ids compared as numbers
    (``rank-2`` before ``rank-10``)."""
    parts: list[Any] = re.split(r"(\d+)", stream)
    parts[1::2] = [int(p) for p in parts[1::2]]
    return [stream != PRIMARY, *parts]


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

    def stream_dir(self, run_hash: str, stream: str = PRIMARY) -> Path:
        """The directory of one of a run's streams (the run's own for the primary)."""
        run_dir = self.run_dir(run_hash)
        if validate_stream_id(stream) == PRIMARY:
            return run_dir
        return run_dir / STREAMS_DIR / stream

    def events_dir(self, run_hash: str, stream: str = PRIMARY) -> Path:
        """The directory holding the segments of one of a run's streams."""
        return self.stream_dir(run_hash, stream) / "events"

    def lock_file(self, run_hash: str, stream: str = PRIMARY) -> Path:
        """The writer lock file of one of a run's streams."""
        return self.stream_dir(run_hash, stream) / "LOCK"

    def stream_ids(self, run_hash: str) -> list[str]:
        """A run's streams in ``stream_order``: the primary, then those under ``streams/``
        (a name that is not a stream id is ignored, never trusted as a path)."""
        try:
            names = os.listdir(self.run_dir(run_hash) / STREAMS_DIR)
        except (FileNotFoundError, NotADirectoryError):
            names = []
        return [PRIMARY, *sorted(filter(is_stream_id, names), key=stream_order)]

    def lock_files(self, run_hash: str) -> list[Path]:
        """The lock files of every stream of a run (the primary's first)."""
        return [self.lock_file(run_hash, s) for s in self.stream_ids(run_hash)]

    def is_live(self, run_hash: str) -> bool:
        """True while a live writer holds the lock of any of the run's streams."""
        return any(is_locked(self.lock_file(run_hash, s)) for s in self.stream_ids(run_hash))

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

    def segment_numbers(self, run_hash: str, stream: str = PRIMARY) -> list[int]:
        """Sorted segment numbers of one of a run's streams (empty when it has none)."""
        return segment_numbers_in(self.events_dir(run_hash, stream))

    def stream_segment_paths(self, run_hash: str, stream: str = PRIMARY) -> list[Path]:
        """The segment files of one of a run's streams, in order."""
        d = self.events_dir(run_hash, stream)
        return [d / segment_name(n) for n in self.segment_numbers(run_hash, stream)]

    def segment_paths(self, run_hash: str) -> list[Path]:
        """Every segment of a run: each stream's in order, streams in ``stream_ids`` order (a
        single-writer run: its segments in order)."""
        return [p for s in self.stream_ids(run_hash) for p in self.stream_segment_paths(run_hash, s)]

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

    def run_file_name(self, run_hash: str, path: Path) -> str:
        """The name a manifest and a bucket key give one of ``run_files``: a primary segment's
        file name (``00000003.jsonl.zst``), ``streams/<id>/`` and a secondary stream's segment
        name, or ``blobs/`` and a blob's name."""
        rel = path.relative_to(self.run_dir(run_hash)).parts
        if rel[0] == STREAMS_DIR:  # streams/<id>/events/<segment>
            return f"{STREAMS_DIR}/{rel[1]}/{rel[3]}"
        if rel[0] == BLOBS_DIR:
            return f"{BLOBS_DIR}/{rel[1]}"
        return rel[1]

    def run_file_path(self, run_hash: str, name: str) -> Path:
        """Where the run file called ``name`` (``run_file_name``) lives; a name that is not one
        (``valid_run_file_name``) raises ``ValueError`` before it becomes a path."""
        if not valid_run_file_name(name):
            raise ValueError(f"not a run file name: {name!r}")
        stream = run_file_stream(name)
        if stream is None:
            return self.blobs_dir(run_hash) / name.split("/")[1]
        return self.events_dir(run_hash, stream) / name.rpartition("/")[2]


def run_file_stream(name: str) -> str | None:
    """The stream a run file (``run_file_name``) belongs to, ``""`` for the primary; None for
    a blob (the run's, shared by its streams)."""
    parts = name.split("/")
    if parts[0] == BLOBS_DIR:
        return None
    return parts[1] if parts[0] == STREAMS_DIR else PRIMARY


def valid_run_file_name(name: str) -> bool:
    """True for a name ``RepoLayout.run_file_name`` gives: a segment's, ``streams/<id>/`` and
    a segment's, or ``blobs/`` and a blob's (storage's definitions of each part)."""
    parts = name.split("/")
    if len(parts) == 1:
        return parse_segment_name(name) is not None
    if len(parts) == 2 and parts[0] == BLOBS_DIR:
        return parse_blob_name(parts[1]) is not None
    return (len(parts) == 3 and parts[0] == STREAMS_DIR and is_stream_id(parts[1])
            and parse_segment_name(parts[2]) is not None)


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
