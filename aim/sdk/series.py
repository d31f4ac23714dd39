"""The series store: each run's metric sequences materialized as columns, caught up from its log.

``read_sequence`` answers ``get_metric`` without scanning the log. Before each read the store is
brought up to date under its lock: the manifest records, per segment, how many bytes were
folded in (and a CRC of the last bytes before that point), so only frames written since are
decoded: nothing for a closed run, the new tail for a live one (so a read sees every flushed
event). A writer catches its run up when it closes.

The store is a cache of the log, never trusted over it: a manifest that does not parse, a file
shorter than the manifest says, a chunk failing its CRC, a segment that shrank, vanished or
changed under a recorded offset all wipe the run's directory and rebuild it from the log.
``aim storage reindex`` drops every run's, and each is rebuilt on its next read.

Each file is kept sorted by step with one point per step: new points whose steps all come after
the file's last step are appended as a chunk; otherwise (a resumed run re-tracking steps) the
file is merged and rewritten, with "last value per step wins" (``merge``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import zlib
from array import array
from pathlib import Path
from typing import Any

import orjson

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.core.history import keeps
from aim.core.values import INT64_MAX, INT64_MIN, float_from_stored
from aim.sdk.log import run_history, segment_markers
from aim.storage.layout import PRIMARY, RepoLayout, segment_name, segment_numbers_in
from aim.storage.segment_follower import SegmentFollower
from aim.storage.series_files import (
    NO_EPOCH,
    Columns,
    MemorySeriesDir,
    SeriesCorruptError,
    SeriesDir,
)

_TAIL = 32  # bytes before a recorded offset whose CRC shows a segment is the one folded in
_MAX_CHUNKS = 16  # past this many chunks a file is compacted into one


def series_root(layout: RepoLayout) -> Path:
    """The directory holding every run's series store."""
    return layout.index_dir / "series"


def series_dir(layout: RepoLayout, run_hash: str) -> SeriesDir:
    """The series store of one run (the hash is validated by ``run_dir`` first)."""
    layout.run_dir(run_hash)
    return SeriesDir(series_root(layout) / run_hash)


def drop(layout: RepoLayout, run_hash: str | None = None) -> None:
    """Delete one run's series store, or every run's: it is rebuilt on the next read."""
    target = series_root(layout) if run_hash is None else series_dir(layout, run_hash).path
    shutil.rmtree(target, ignore_errors=True)


class _Pending:
    """Points of one sequence read from the log since the last catch-up, in log order."""

    def __init__(self, name: str, context: dict[str, Any]) -> None:
        self.name, self.context = name, context
        self.steps: list[int] = []
        self.values: list[Any] = []
        self.epochs: list[int] = []
        self.timestamps: list[float] = []

    def columns(self) -> Columns:
        """The points as packed columns (see ``packed``)."""
        return packed(self.steps, self.values, self.epochs, self.timestamps)


def packed(steps: list[int], values: list[Any], epochs: list[int], timestamps: list[Any]) -> Columns:
    """Points as packed columns: int64 values when every value is an int that fits, float64
    when none is an int, and float64 plus the exact ints when they mix."""
    is_int = [type(v) is int and INT64_MIN <= v <= INT64_MAX for v in values]
    cols = Columns(array("q", steps), array("d"), array("q", epochs), array("d", map(float, timestamps)))
    if all(is_int):
        cols.values = array("q", values)
    elif not any(is_int):
        cols.values = array("d", map(float, values))
    else:
        cols.values = array("d", map(float, values))
        cols.is_int = array("b", is_int)
        cols.ints = array("q", (v if m else 0 for v, m in zip(values, is_int)))
    return cols


def _key(name: str, context: dict[str, Any]) -> str:
    return name + "\0" + context_key(context).decode()


def _frame_events(lines: list[bytes]) -> list[Any]:
    """The events of one frame: one orjson call for the whole frame (a JSON array of its
    lines), about 3x faster than a call per line; a frame with a bad line goes line by line."""
    try:
        events = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        events = []
        for line in lines:
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return [e for e in events if type(e) is dict]


def _fingerprint(path: Path, offset: int) -> list[int]:
    """What proves a segment is still the one folded in up to ``offset``: the offset, a CRC of
    the bytes just before it, and the file's size and mtime when it was read."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        f.seek(max(0, offset - _TAIL))
        return [offset, zlib.crc32(f.read(min(offset, _TAIL))), st.st_size, st.st_mtime_ns]


def _segment_key(stream: str, number: int) -> str:
    """A segment's key in the manifest: its number, after ``<stream>/`` for a secondary
    stream's (a single-writer run's manifest is the one it always was)."""
    return f"{stream}/{number}" if stream else str(number)


def _segment_path(layout: RepoLayout, run_hash: str, key: str) -> Path:
    stream, _, number = key.rpartition("/")
    return layout.events_dir(run_hash, stream) / segment_name(int(number))


def _segments(layout: RepoLayout, run_hash: str) -> list[tuple[str, int, Path]]:
    """``(stream, number, path)`` of every segment of the run, stream by stream."""
    out = []
    for stream in layout.stream_ids(run_hash):
        events = layout.events_dir(run_hash, stream)
        out += [(stream, n, events / segment_name(n)) for n in segment_numbers_in(events)]
    return out


def _still_valid(layout: RepoLayout, run_hash: str, manifest: dict[str, Any]) -> bool:
    """True when every segment the manifest folded in is still there, unchanged up to its offset.

    A segment of the size it had when read must have the same mtime too: sealed segments never
    change, so a rewrite (a flipped byte, a copy without ``-p``) means the log is not the one
    the store was built from. One that grew (the live writer's) must still end its folded part
    with the same bytes.
    """
    try:
        for key, (offset, crc, size, mtime) in manifest["segments"].items():
            path = _segment_path(layout, run_hash, key)
            st = os.stat(path)
            if st.st_size < offset or (st.st_size == size and st.st_mtime_ns != mtime):
                return False
            if _fingerprint(path, offset)[1] != crc:
                return False
    except (OSError, ValueError, TypeError, KeyError):
        return False
    return True


def catch_up(layout: RepoLayout, run_hash: str, max_new_bytes: int | None = None) -> bool:
    """Fold what the log gained since the last catch-up into the store; False when skipped
    because more than ``max_new_bytes`` of log are new (the next read folds them instead).

    Holds the store's lock: concurrent readers (threads or processes) catch up one at a time.
    """
    store = series_dir(layout, run_hash)
    with store.locked():
        if max_new_bytes is not None and _new_bytes(layout, run_hash, store) > max_new_bytes:
            return False
        _catch_up_checked(layout, run_hash, store)
        return True


def _catch_up_checked(layout: RepoLayout, run_hash: str, store: SeriesDir) -> dict[str, Any]:
    """``_catch_up_locked``; when it meets a damaged file (a merge reads the old one), the
    store is wiped and rebuilt from the log, once."""
    try:
        return _catch_up_locked(layout, run_hash, store)
    except SeriesCorruptError:
        store.wipe()
        return _catch_up_locked(layout, run_hash, store)


def _new_marker(layout: RepoLayout, run_hash: str, manifest: dict[str, Any]) -> bool:
    """True when a primary segment the store has not read holds a fork or rewind marker (a
    writer session writes its markers in its segment's first frame, and only there)."""
    folded = manifest["segments"]
    for number in segment_numbers_in(layout.events_dir(run_hash)):
        done = folded.get(_segment_key(PRIMARY, number))
        if done and done[0] > 0:
            continue
        if segment_markers(layout.events_dir(run_hash) / segment_name(number)):
            return True
    return False


def _new_bytes(layout: RepoLayout, run_hash: str, store: SeriesDir) -> int:
    """Bytes of log not folded in yet (all of it when the manifest is missing or bad)."""
    try:
        manifest = store.read_manifest() or {"segments": {}}
    except SeriesCorruptError:
        manifest = {"segments": {}}
    total = 0
    for stream, number, path in _segments(layout, run_hash):
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            continue
        done = manifest["segments"].get(_segment_key(stream, number))
        total += size - (done[0] if isinstance(done, list) and done else 0)
    return total


def _catch_up_locked(layout: RepoLayout, run_hash: str, store: SeriesDir) -> dict[str, Any]:
    try:
        manifest = store.read_manifest()
    except SeriesCorruptError:
        manifest = None
    if manifest is not None and not _still_valid(layout, run_hash, manifest):
        manifest = None
    if manifest is not None and _new_marker(layout, run_hash, manifest):
        manifest = None  # a fork or rewind since: points already folded may have left the history
    history = None
    if manifest is None:
        store.wipe()
        manifest = {"segments": {}, "sequences": {}}
        history = run_history(layout, run_hash)
    offsets = {key: fp[0] for key, fp in manifest["segments"].items()}
    # One follower per stream, each from its offsets: a sequence is one stream's, normally
    # (rank k's carry {"rank": k}); one that several streams write folds them stream by stream.
    followers = []
    for stream in layout.stream_ids(run_hash):
        mine = {int(k.rpartition("/")[2]): off for k, off in offsets.items()
                if k.rpartition("/")[0] == stream}
        followers.append((stream, SegmentFollower(layout.events_dir(run_hash, stream), mine)))
    pending: dict[str, _Pending] = {}
    bounds = {stream: history.bound(stream) for stream, _ in followers} if history else {}
    # The loop below runs once per event of the log: lookups are hoisted, and the context's
    # canonical bytes come from orjson directly (a decoded context is plain JSON already).
    get_pending, dumps, sort_keys, metric = pending.get, orjson.dumps, orjson.OPT_SORT_KEYS, ev.METRIC
    frames = ((bounds.get(stream), lines) for stream, follower in followers for lines in follower.frames())
    for bound, lines in frames:
        for event in _frame_events(lines):
            if event.get("type") != metric:
                continue
            name, step, value = event.get("name"), event.get("step", 0), event.get("value")
            if type(name) is not str or type(step) is not int or step < 0:
                continue
            if bound is not None and not keeps(bound, event):
                continue  # left out of the current history by a fork or a rewind
            context = event.get("context")
            key = name + "\0" + (dumps(context, option=sort_keys).decode() if context else "{}")
            p = get_pending(key)
            if p is None:
                p = pending[key] = _Pending(name, context or {})
            if type(value) is str:
                value = float_from_stored(value)
            elif type(value) is not float and type(value) is not int:
                continue  # not a value aim writes (the writer refuses anything else at the call)
            epoch = event.get("epoch")
            p.steps.append(step)
            p.values.append(value)
            p.epochs.append(epoch if type(epoch) is int else NO_EPOCH)
            p.timestamps.append(event.get("ts") or 0.0)
    now = {_segment_key(stream, n): off for stream, f in followers for n, off in f.offsets.items()}
    if not pending and now == offsets:
        return manifest
    sequences: dict[str, Any] = manifest["sequences"]
    replaced: list[int] = []
    for key, p in pending.items():
        entry = sequences.get(key)
        if entry is None:
            entry = sequences[key] = {"name": p.name, "context": p.context, "file": _new_file(manifest),
                                      "bytes": 0, "chunks": 0, "points": 0, "last_step": -1}
        old_file = entry["file"]
        _store_points(store, manifest, entry, p.columns())
        if entry["file"] != old_file:
            replaced.append(old_file)
    manifest["segments"] = {key: _fingerprint(_segment_path(layout, run_hash, key), off)
                            for key, off in now.items()}
    store.write_manifest(manifest)  # the commit point: before it, the old manifest holds
    for file_id in replaced:
        store.remove(file_id)
    return manifest


def _new_file(manifest: dict[str, Any]) -> int:
    # Ids are never reused while a manifest may name them: a file a killed catch-up left
    # behind under a fresh id is cut (append) or replaced (rewrite) when the id is taken.
    file_id = int(manifest.get("next_file", len(manifest["sequences"])))
    manifest["next_file"] = file_id + 1
    return file_id


def _store_points(store: SeriesDir, manifest: dict[str, Any], entry: dict[str, Any], new: Columns) -> None:
    """Add ``new`` (log order) to a sequence's file: appended as a chunk past the bytes the
    manifest vouches for, when its steps are ascending and all after the file's last step;
    else merged and written to a new file (the manifest keeps naming the old one until it is
    replaced, so a kill at any point leaves a store that is whole or detectably not)."""
    steps = new.steps
    if (entry["chunks"] < _MAX_CHUNKS and steps[0] > entry["last_step"]
            and all(a < b for a, b in itertools.pairwise(steps))):
        entry["bytes"] = store.append(entry["file"], entry["bytes"], new)
        entry["chunks"] += 1
        entry["points"] += len(new)
        entry["last_step"] = steps[-1]
        return
    old = concat(store.read(entry["file"], entry["bytes"])) if entry["bytes"] else Columns()
    merged = merge(old, new)
    entry["file"] = _new_file(manifest)
    entry["bytes"] = store.rewrite(entry["file"], merged)
    entry["chunks"] = 1
    entry["points"] = len(merged)
    entry["last_step"] = merged.steps[-1] if len(merged) else -1


def concat(chunks: list[Columns]) -> Columns:
    """The chunks of one file as one ``Columns`` (values keep each point's type)."""
    if len(chunks) == 1:
        return chunks[0]
    kinds = {("mixed" if c.is_int is not None else c.values.typecode) for c in chunks}
    if len(kinds) > 1 or "mixed" in kinds:
        steps, values, epochs, timestamps = [], [], [], []
        for c in chunks:
            steps += c.steps.tolist()
            values += c.value_list()
            epochs += c.epochs.tolist()
            timestamps += c.timestamps.tolist()
        return packed(steps, values, epochs, timestamps)
    out = Columns(array("q"), array(kinds.pop() if kinds else "q"), array("q"), array("d"))
    for c in chunks:
        out.steps.extend(c.steps)
        out.values.extend(c.values)
        out.epochs.extend(c.epochs)
        out.timestamps.extend(c.timestamps)
    return out


def merge(old: Columns, new: Columns) -> Columns:
    """``old`` (sorted, one point per step) with ``new`` (log order) folded in: for a repeated
    step the later point wins, the rule ``core.projection`` applies to last values."""
    rows: dict[int, tuple[Any, int, float]] = {}
    for cols in (old, new):
        for s, v, e, t in zip(cols.steps, cols.value_list(), cols.epochs, cols.timestamps):
            rows[s] = (v, e, t)
    steps = sorted(rows)
    return packed(steps, [rows[s][0] for s in steps], [rows[s][1] for s in steps],
                  [rows[s][2] for s in steps])


def read_sequence(layout: RepoLayout, run_hash: str, name: str,
                  context: dict[str, Any]) -> Columns | None:
    """One sequence's points, sorted by step (last value per step wins), or None when the run
    has no such sequence. Catches the store up first; a corrupt store is rebuilt once. When the
    store cannot be written (a read-only mount, a full disk), the log is folded in memory."""
    key = _key(name, context)
    try:
        return _read(layout, run_hash, key, series_dir(layout, run_hash))
    except OSError:
        return _read(layout, run_hash, key, MemorySeriesDir())


def _read(layout: RepoLayout, run_hash: str, key: str, store: SeriesDir) -> Columns | None:
    with store.locked():
        for attempt in (1, 2):
            manifest = _catch_up_checked(layout, run_hash, store)
            entry = manifest["sequences"].get(key)
            if entry is None:
                return None
            try:
                return concat(store.read(entry["file"], entry["bytes"])) if entry["bytes"] else Columns()
            except SeriesCorruptError:
                if attempt == 2:
                    raise
                store.wipe()
    return None  # not reached: the loop returns or raises
