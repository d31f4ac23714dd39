"""Verify a repository: every segment's checksums, ``seq`` order, runs that hold no event, and
every index row against a replay of its log; with ``repair``, mend what can be mended without
losing anything (torn tails, leftovers, drifted rows, empty run directories).

``corrupted_runs`` is what ``aim runs ls --corrupted`` lists and ``aim runs rm --corrupted``
removes. Run-level edits go through ``maintenance``'s lock discipline (``locked``, ``delete``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.errors import AimError
from aim.sdk import indexer
from aim.sdk.log import iter_segment_events
from aim.sdk.maintenance import Outcome, _each, delete, locked
from aim.storage.hashes import is_run_hash
from aim.storage.lock import RunLocks, is_locked
from aim.storage.segment_reader import SegmentScan, iter_payloads
from aim.storage.transfer import list_leftovers, sweep_leftovers

if TYPE_CHECKING:
    from aim.sdk.store import RepoStore

@dataclass
class Problem:
    """One thing ``verify`` found."""

    kind: str  # torn_tail, damaged, seq_gap, orphan, leftover, index_drift, unreadable
    where: str
    detail: str
    fixed: bool = False


def verify(repo: RepoStore, *, repair: bool = False) -> list[Problem]:
    """Decode every segment and compare the index with a replay; optionally repair."""
    layout = repo.layout
    problems: list[Problem] = []
    for entry in list_leftovers(layout):
        problems.append(Problem("leftover", str(entry.relative_to(layout.root)),
                                "left by an interrupted run creation, copy or prune"))
    if repair and problems:
        removed = {str(p.relative_to(layout.root)) for p in sweep_leftovers(layout)}
        for p in problems:
            p.fixed = p.where in removed
    try:
        names = sorted(p.name for p in layout.runs.iterdir())
    except FileNotFoundError:
        names = []
    for name in names:
        if not is_run_hash(name) or not (layout.runs / name).is_dir():
            problems.append(Problem("orphan", f"runs/{name}", "not a run directory (name is not a run hash)"))
            continue
        problems += _check_run(repo, name, repair=repair, index=True)
    return problems


# What ``aim runs ls --corrupted`` calls corrupted: a log verify finds events lost in (damaged
# bytes, a seq gap or duplicate), or a run directory whose writer died before its first event
# (it cannot be opened). Not a torn tail (the normal trace of a crash: cut without loss by the
# next lock holder) nor index drift (the index is disposable and rebuilt from the log).
CORRUPTION_KINDS = ("damaged", "seq_gap", "orphan", "blob_missing", "blob_damaged")


def corrupted_runs(repo: RepoStore) -> dict[str, list[Problem]]:
    """The runs (deleted ones included) whose log ``verify`` finds damaged, with the problems.

    Reads every segment (checksums), as ``verify`` does, but leaves the index alone.
    """
    out: dict[str, list[Problem]] = {}
    for h in indexer.run_hashes_on_disk(repo.layout):
        if not repo.layout.run_dir(h).is_dir():
            continue
        try:
            found = [p for p in _check_run(repo, h, repair=False, index=False)
                     if p.kind in CORRUPTION_KINDS]
        except FileNotFoundError:  # pruned or moved away meanwhile
            continue
        if found:
            out[h] = found
    return out


def remove_corrupted(repo: RepoStore, hashes: Iterable[str]) -> list[Outcome]:
    """``aim runs rm --corrupted``: tombstone each damaged run (its valid events stay readable
    and restorable until prune); a run directory without any event is removed at once, under
    its lock (there is nothing in it to lose or restore)."""

    def one(h: str) -> Outcome:
        if _holds_no_event(repo.layout.segment_paths(h)):
            if _remove_empty_run(repo, h):
                return Outcome(h, True, "removed (held no event)")
            # Its lock was held (a writer took it meanwhile) or its first event landed: either
            # way it is no longer the empty shell that was listed.
            return Outcome(h, False, f"run {h} changed since it was listed (a writer holds it "
                                     "or it holds events now); nothing was removed")
        return delete(repo, [h])[0]

    return _each(hashes, one)


def _check_run(repo: RepoStore, h: str, *, repair: bool, index: bool) -> list[Problem]:
    """verify's checks of one run directory (``index``: compare its index rows too)."""
    layout = repo.layout
    if _holds_no_event(layout.segment_paths(h)):
        if layout.is_live(h):
            return []  # a live run that has not written its first frame yet
        p = Problem("orphan", f"runs/{h}",
                    "run without events: its writer died before its first frame was written")
        p.fixed = repair and _remove_empty_run(repo, h)
        return [p]
    return _verify_run(repo, h, repair, index=index)


_FIRST_FRAME_MAX = 64 << 20  # larger than any first frame a writer can leave half-written


def _holds_no_event(paths: list[Path]) -> bool:
    """No segment, or one segment without a complete frame: what a writer killed before its
    first frame leaves (an empty file, or part of that frame). Only the first segment can be
    in that state, so a run with more is never scanned here."""
    if not paths:
        return True
    if len(paths) > 1 or paths[0].stat().st_size > _FIRST_FRAME_MAX:
        return False
    # Stop at the first verified frame: a normal run costs one frame's decompression.
    return next(iter_payloads(paths[0].read_bytes(), SegmentScan(paths[0])), None) is None


def _remove_empty_run(repo: RepoStore, run_hash: str) -> bool:
    """Remove a run that holds no event and whose lock is free: its writer died before its
    first frame was written, so nothing is lost (a live creator holds the lock from the moment
    the directory appears: ``create_locked``). Done under the lock, so a resume cannot start
    meanwhile."""
    layout = repo.layout
    lock = RunLocks(layout.lock_files(run_hash))
    try:
        lock.acquire()
    except (AimError, OSError):
        return False
    try:
        if not _holds_no_event(layout.segment_paths(run_hash)):
            return False
        shutil.rmtree(layout.run_dir(run_hash))
    finally:
        lock.release()
    repo.index.remove_run(run_hash)
    return True


def _verify_run(repo: RepoStore, h: str, repair: bool, *, index: bool = True) -> list[Problem]:
    layout = repo.layout
    from aim.sdk.verify_blobs import check_blobs, referenced_blobs

    found: list[Problem] = []
    blobs: set[str] = set()
    live_streams = []
    for stream in layout.stream_ids(h):  # each stream has its own seq, from 0
        live = is_locked(layout.lock_file(h, stream))
        live_streams.append(live)
        scans, seqs = [], []
        for path in layout.stream_segment_paths(h, stream):
            scan = SegmentScan(path)
            events = list(iter_segment_events(path, scan))
            seqs += [e.get("seq") for e in events]
            blobs |= referenced_blobs(events)
            scans.append(scan)
        for scan in scans:
            where = f"runs/{h}/{scan.path.relative_to(layout.run_dir(h)).as_posix()}"
            for start, end in scan.damaged:
                found.append(Problem("damaged", where,
                                     f"damaged bytes {start}..{end} skipped; their events are lost"))
            if scan.torn_tail and not (live and scan is scans[-1]):
                found.append(Problem("torn_tail", where, f"{scan.torn_tail} bytes after the last good frame"))
        if seqs != list(range(len(seqs))):
            where = f"runs/{h}" + (f"/streams/{stream}" if stream else "")
            found.append(Problem("seq_gap", where, _describe_seq(seqs)))
    live = any(live_streams)
    if repair and any(p.kind == "torn_tail" for p in found) and not live:
        try:
            with locked(repo, h):
                pass  # taking the lock repairs the tail (see _tip)
            for p in found:
                if p.kind == "torn_tail":
                    p.fixed = True
        except AimError:
            pass
    found += check_blobs(layout, h, blobs, live=live, repair=repair)
    if not live and index:
        found += _index_drift(repo, h, repair)
    return found


def _describe_seq(seqs: list[Any]) -> str:
    seen, gaps, dups, prev = set(), [], [], -1
    for s in seqs:
        if not isinstance(s, int):
            continue
        if s in seen:
            dups.append(s)
        elif s != prev + 1:
            gaps.append((prev + 1, s - 1))
        seen.add(s)
        prev = max(prev, s)
    parts = []
    if gaps:
        parts.append("missing seq " + ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in gaps[:5]))
    if dups:
        parts.append("duplicate seq " + ", ".join(map(str, dups[:5])))
    return "; ".join(parts) or "seq out of order"


def _index_drift(repo: RepoStore, h: str, repair: bool) -> list[Problem]:
    from aim.core.params import leaf_keys

    summary, _, size = indexer.replay_run(repo.layout, h)
    index = repo.index
    if summary.status == ev.STATUS_RUNNING:
        summary.status = ev.STATUS_CRASHED  # not live (checked by the caller): see indexer.heal
    want_row = indexer.run_row(summary, size)
    want_seqs = sorted(indexer.sequence_row(k, e) for k, e in summary.sequences.items())
    got_row = index.run_row(h)
    got_seqs = sorted(index.sequence_rows(h))
    drift = []
    if got_row != want_row:
        drift.append("run row")
    if got_seqs != want_seqs:
        drift.append("sequences")
    if sorted(index.param_key_rows(h)) != sorted(leaf_keys(summary.params)):
        drift.append("param keys")
    if sorted(index.object_rows(h)) != sorted(indexer.object_rows(summary)):
        drift.append("objects")
    if not drift:
        return []
    # The run row's differing fields, named with both values, so that one line says what is wrong.
    fields = [] if got_row is None else [
        f"{k}: index {_short(got_row.get(k))}, log {_short(v)}"
        for k, v in want_row.items() if got_row.get(k) != v]
    detail = "index differs from the log in: " + ", ".join(drift)
    if got_row is None:
        detail += " (no index row)"
    elif fields:
        detail += " (" + "; ".join(fields) + ")"
    problem = Problem("index_drift", f"index:{h}", detail)
    if repair:
        index.remove_run(h)
        indexer.write_summary(index, summary, size)
        problem.fixed = True
    return [problem]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


