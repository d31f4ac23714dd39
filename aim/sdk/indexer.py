"""Keep the index in step with the logs: incremental updates, rebuild by replay, self-heal.

All three go through ``core.projection``: a writer folds its own events, a rebuild folds the
logs, and both become rows through ``run_row`` and ``sequence_row`` so they cannot disagree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from aim.core import events as ev
from aim.core.history import History
from aim.core.params import leaf_keys
from aim.core.projection import (
    LAST_VALUE,
    NEXT_STEP,
    OBJ_KIND,
    OBJ_NEXT_STEP,
    OBJ_POINTS,
    POINTS,
    RunSummary,
    SeqKey,
    merge_streams,
    replay,
)
from aim.core.values import (
    bytes_from_stored,
    float_from_stored,
    param_value,
    restore_paths,
    to_json_form,
)
from aim.storage.hashes import is_run_hash
from aim.storage.index import RUN_COLUMNS, Index, IndexCorruptError, drop_index_files
from aim.storage.layout import PRIMARY, RepoLayout, stream_order

if TYPE_CHECKING:
    from aim.storage.segment_reader import SegmentScan


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(to_json_form(value)).decode()


def run_row(summary: RunSummary, log_size: int) -> dict[str, Any]:
    """The ``runs`` row of a summary."""
    return {
        "hash": summary.hash,
        "experiment": summary.experiment,
        "name": summary.name,
        "description": summary.description,
        "archived": int(bool(summary.archived)),
        "deleted": int(summary.deleted),
        "status": summary.status,
        "creation_time": summary.creation_time,
        "end_time": summary.end_time,
        "last_seq": summary.last_seq,
        "tags": orjson.dumps(summary.tags).decode(),
        "log_size": log_size,
        **params_columns(summary.params),
        "forked_from": orjson.dumps(summary.forked_from).decode() if summary.forked_from else "",
    }


def params_columns(params: dict[str, Any]) -> dict[str, str]:
    """``params`` (the JSON form) and ``params_marks`` (where non-finite floats and bytes are,
    as in a ``param.set`` event), so that ``params_from_row`` gives back the exact params."""
    stored = param_value(params, ())
    marks = {k: v for k, v in (("floats", stored.floats), ("bytes", stored.bytes)) if v}
    return {"params": orjson.dumps(stored.value).decode(),
            "params_marks": orjson.dumps(marks).decode() if marks else ""}


def params_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row's params exactly as the log's replay gives them (NaN, infinities and bytes back)."""
    return _params(row["params"], row.get("params_marks"))


def _params(params_json: str, marks_json: str | None) -> dict[str, Any]:
    params = orjson.loads(params_json)
    if marks_json:
        marks = orjson.loads(marks_json)
        params = restore_paths(params, marks.get("floats") or [], float_from_stored)
        params = restore_paths(params, marks.get("bytes") or [], bytes_from_stored)
    return params


def sequence_row(key: SeqKey, entry: list[Any]) -> tuple[str, str, int, int, str | None]:
    """A ``sequences`` row: name, context JSON, points, last step, last value JSON."""
    name, ckey = key
    return (name, ckey.decode(), entry[POINTS], entry[NEXT_STEP] - 1, _json_value(entry[LAST_VALUE]))


def object_rows(summary: RunSummary) -> list[tuple[str, str, str, int, int]]:
    """The ``objects`` rows of a summary: name, context JSON, kind, points, last step."""
    return [(name, ckey.decode(), e[OBJ_KIND], e[OBJ_POINTS], e[OBJ_NEXT_STEP] - 1)
            for (name, ckey), e in summary.objects.items()]


def write_summary(index: Index, summary: RunSummary, log_size: int,
                  sequences: list[SeqKey] | None = None, params: bool = True,
                  if_unchanged: tuple[str, int] | bool | None = False) -> None:
    """Write a summary's rows; ``sequences=None`` writes all of them, and drops rows of
    sequences the summary does not have (it is a replay: the log is the truth).
    ``if_unchanged``: only over the row an earlier read saw (see ``Index.write_run``)."""
    keys = list(summary.sequences) if sequences is None else sequences
    index.write_run(
        run_row(summary, log_size),
        [sequence_row(k, summary.sequences[k]) for k in keys],
        leaf_keys(summary.params) if params else None,
        objects=object_rows(summary),
        all_sequences=sequences is None,
        if_unchanged=if_unchanged,
        streams=[(sid, stream_row_json(s, size)) for sid, s, size in summary.streams] or None,
    )


def stream_row_json(summary: RunSummary, log_size: int) -> str:
    """One stream's row in the ``streams`` table: its own runs row, as JSON."""
    return orjson.dumps(run_row(summary, log_size)).decode()


def merge_stream_rows(run_hash: str, rows: list[tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """The runs row and param keys of a multi-writer run from its streams' rows
    (``Index.write_stream``), merged by the one rule (``merge_streams``)."""
    parsed = sorted(((sid, orjson.loads(row)) for sid, row in rows), key=lambda r: stream_order(r[0]))
    summaries = [summary_from_row(row) for _, row in parsed]
    if not parsed or parsed[0][0] != PRIMARY:
        summaries.insert(0, RunSummary(hash=run_hash))  # rank 0 has not indexed anything yet
    merged = merge_streams(summaries[0], summaries[1:])
    return run_row(merged, sum(row["log_size"] for _, row in parsed)), leaf_keys(merged.params)


def indexed_summary(index: Index, layout: RepoLayout, run_hash: str) -> RunSummary | None:
    """A run's summary from its index rows, without reading its log; None when the rows may
    be behind the log (no row; a live or dead writer's "running" row, whose sequence rows
    lag by up to a few seconds; or a log whose size differs from the row's)."""
    row = index.run_row(run_hash)
    if row is None or row["status"] == ev.STATUS_RUNNING or row["log_size"] != log_size(layout, run_hash):
        return None
    summary = summary_from_row(row)
    summary.sequences.update(indexed_sequences(index, run_hash))
    summary.objects.update(indexed_objects(index, run_hash))
    return summary


def indexed_objects(index: Index, run_hash: str) -> dict[SeqKey, list[Any]]:
    """A run's object sequence entries (as ``core.projection`` keeps them) from its rows."""
    return {(name, context.encode()): [last_step + 1, points, kind, orjson.loads(context)]
            for name, context, kind, points, last_step in index.object_rows(run_hash)}


def summary_from_row(row: dict[str, Any]) -> RunSummary:
    """A run's summary from its ``runs`` row, without its sequences (``indexed_sequences``)."""
    return summary_from_values(tuple(row.get(c) for c in RUN_COLUMNS))


# Positions in a RUN_COLUMNS tuple (Index.run_tuples): listing 100k runs reads tuples, a dict
# per row cost a tenth of the listing (tools/bench.py, read_iter_runs_100k).
(_HASH, _EXPERIMENT, _NAME, _DESCRIPTION, _ARCHIVED, _DELETED, _STATUS, _CREATED, _ENDED,
 _LAST_SEQ, _TAGS, _PARAMS, _MARKS, _FORKED) = map(RUN_COLUMNS.index, (
    "hash", "experiment", "name", "description", "archived", "deleted", "status",
    "creation_time", "end_time", "last_seq", "tags", "params", "params_marks", "forked_from"))


def summary_from_values(values: tuple[Any, ...]) -> RunSummary:
    """``summary_from_row`` of a row as a tuple in ``RUN_COLUMNS`` order."""
    tags = values[_TAGS]
    # Positional, in RunSummary's field order: keywords cost twice as much (1.2 us a run in
    # CPython 3.11), a sixth of listing 100k runs; tests/sdk/test_repo.py pins the order.
    summary = RunSummary(
        values[_HASH], values[_EXPERIMENT], values[_NAME], values[_DESCRIPTION],
        bool(values[_ARCHIVED]), [] if tags == "[]" else orjson.loads(tags),
        _params(values[_PARAMS], values[_MARKS]), values[_CREATED], values[_ENDED],
        values[_STATUS], bool(values[_DELETED]), values[_LAST_SEQ],
    )
    if values[_FORKED]:
        summary.forked_from = orjson.loads(values[_FORKED])
    return summary


def indexed_sequences(index: Index, run_hash: str) -> dict[SeqKey, list[Any]]:
    """A run's sequence entries (as ``core.projection`` keeps them) from its sequence rows."""
    out: dict[SeqKey, list[Any]] = {}
    for name, context, points, last_step, last_value in index.sequence_rows(run_hash):
        value = None if last_value is None else float_from_stored(orjson.loads(last_value))
        out[(name, context.encode())] = [last_step + 1, points, value, orjson.loads(context)]
    return out


def replay_run(layout: RepoLayout, run_hash: str) -> tuple[RunSummary, list[SegmentScan], int]:
    """Fold a run's whole log (every stream's, merged by ``merge_streams``); return its
    summary, the scans of its segments, and the log's size."""
    streams = replay_streams(layout, run_hash)
    summaries = [s[1] for s in streams]
    summary = merge_streams(summaries[0], summaries[1:])
    if len(streams) > 1:
        summary.streams = [(sid, s, sum(scan.size for scan in scans)) for sid, s, scans in streams]
    scans = [scan for s in streams for scan in s[2]]
    return summary, scans, sum(s.size for s in scans)


def replay_streams(layout: RepoLayout, run_hash: str) -> list[tuple[str, RunSummary, list[SegmentScan]]]:
    """Each of a run's streams folded on its own: ``(stream id, summary, scans)``, the
    primary first (``RepoLayout.stream_ids``)."""
    from aim.sdk.log import run_history  # zstandard: see replay_stream

    history = run_history(layout, run_hash)
    return [(stream, *replay_stream(layout, run_hash, stream, history))
            for stream in layout.stream_ids(run_hash)]


def replay_stream(layout: RepoLayout, run_hash: str, stream: str,
                  history: History | None = None) -> tuple[RunSummary, list[SegmentScan]]:
    """Fold one of a run's streams: its summary and the scans of its segments (``history``:
    the run's markers, read when not given)."""
    # Imported here: listing runs from a healthy index never needs zstandard.
    from aim.sdk.log import iter_segment_events, run_history
    from aim.storage.segment_reader import SegmentScan

    scans: list[SegmentScan] = []

    def events() -> Any:
        for path in layout.stream_segment_paths(run_hash, stream):
            scan = SegmentScan(path)
            scans.append(scan)
            yield from iter_segment_events(path, scan)

    history = history if history is not None else run_history(layout, run_hash)
    return replay(run_hash, events(), history.bound(stream)), scans


def log_size(layout: RepoLayout, run_hash: str) -> int:
    """Total bytes of a run's segments."""
    total = 0
    for p in layout.segment_paths(run_hash):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def run_hashes_on_disk(layout: RepoLayout) -> list[str]:
    """Hashes of the run directories present (others are ignored, never trusted as paths)."""
    try:
        names = os.listdir(layout.runs)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if is_run_hash(n))


def open_index(layout: RepoLayout) -> Index:
    """Open the index, dropping and recreating it when it is corrupt; heal it.

    On a repository that cannot be written (a read-only mount, a backup someone else owns) the
    index is built in memory from the logs instead: reading works, and nothing is deleted in
    the belief that an unwritable index is a corrupt one.
    """
    if not _writable(layout.index_dir if layout.index_dir.exists() else layout.root):
        index = Index(Path(":memory:"))
        heal(layout, index, full=True)
        return index
    layout.index_dir.mkdir(exist_ok=True)
    try:
        index = Index(layout.index_db)
        fresh = index.created
    except IndexCorruptError:
        drop_index_files(layout.index_db)
        index = Index(layout.index_db)
        fresh = True
    try:
        heal(layout, index, full=fresh)
    except IndexCorruptError:
        index.close()
        drop_index_files(layout.index_db)
        index = Index(layout.index_db)
        heal(layout, index, full=True)
    return index


def _writable(path: Path) -> bool:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return True  # let the normal path report what is wrong
    return os.access(path, os.W_OK)


def heal(layout: RepoLayout, index: Index, *, full: bool = False) -> int:
    """Bring the index in line with the run directories; return how many runs were re-read.

    Cheap enough for every ``ls``: one directory listing, plus a lock probe for runs the index
    believes are running. Re-reads runs that are missing from the index, and runs whose writer
    died (lock free, still "running"): those are stored as "crashed", an index-only status
    that readers derive anyway, and re-read again only when their log changes size.
    """
    # The index first, then the directory: a run missing from a listing taken after the index
    # was read is really gone. The other order let a heal with a stale listing drop the row of
    # a run created and closed meanwhile (found by tools/loadtest.py: a finished run missing
    # from `ls` until the next heal).
    known = {} if full else index.indexed()
    on_disk = run_hashes_on_disk(layout)
    changed = 0
    for h in on_disk:
        state = known.get(h)
        if state is not None and state[0] not in (ev.STATUS_RUNNING, ev.STATUS_CRASHED):
            continue
        if layout.is_live(h):
            continue  # a live writer keeps its own rows current
        if state is not None and state[0] == ev.STATUS_CRASHED and log_size(layout, h) == state[1]:
            continue  # re-read once after its writer died, unchanged since
        summary, _, size = replay_run(layout, h)
        if summary.last_seq < 0 and not summary.creation_time:
            continue  # a directory being created right now, or an empty shell: nothing to show
        if summary.status == ev.STATUS_RUNNING:
            # Its writer died (the lock is free): the rows it last wrote may count events that
            # never reached the log, so they are rebuilt from the log, once, and marked.
            summary.status = ev.STATUS_CRASHED
        # The lock was free when it was probed, but a writer may have resumed the run, written
        # and closed since: its row is then not the one read above, and it stays.
        write_summary(index, summary, size, if_unchanged=False if full else state)
        changed += 1
    present = set(on_disk)
    for h in known:
        if h not in present:
            index.remove_run(h)
            _drop_series(layout, h)
            changed += 1
    return changed


def refresh(layout: RepoLayout, index: Index, run_hashes: list[str]) -> None:
    """Re-read these runs from their logs into the index, and drop their series stores (rebuilt
    on the next read): what a download that brought new segments does for the runs it touched.
    A run a live writer holds here is left to it."""
    for h in run_hashes:
        if layout.is_live(h):
            continue
        summary, _, size = replay_run(layout, h)
        if summary.last_seq < 0 and not summary.creation_time:
            continue
        if summary.status == ev.STATUS_RUNNING:
            summary.status = ev.STATUS_CRASHED  # no writer here (see heal)
        index.remove_run(h)  # rows the log no longer holds (a dead writer's) go too
        write_summary(index, summary, size)
        _drop_series(layout, h)


def _drop_series(layout: RepoLayout, run_hash: str | None = None) -> None:
    # Imported here: listing runs from a healthy index never needs zstandard.
    from aim.sdk import series

    series.drop(layout, run_hash)


def rebuild(layout: RepoLayout) -> int:
    """Drop the index and replay every run's log into a fresh one; return the run count."""
    layout.index_dir.mkdir(exist_ok=True)
    drop_index_files(layout.index_db)
    _drop_series(layout)  # rebuilt from the logs on each run's next read
    index = Index(layout.index_db)
    try:
        heal(layout, index, full=True)
        return len(index.indexed())
    finally:
        index.close()
