"""Run management: delete (tombstone), restore, close, prune (compaction), copy, move
(verifying is ``verify.py``).

A delete or restore is one event in a new segment, written under the run's lock; for a run
that closed cleanly the index already knows its last ``seq`` and size, so the cost does not
grow with the run's length. Prune removes tombstoned runs by renaming their directory into
``trash/`` (atomic) before deleting it, so a prune killed anywhere leaves a consistent repo that
the next prune finishes. Copy assembles the run in the destination's ``tmp/`` and renames it
into place; move removes the source only after the destination is complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aim.core import events as ev
from aim.core.encoding import encode_events
from aim.core.projection import RunSummary, apply
from aim.errors import AimError, RemoteError, RunLockedError, RunNotFoundError
from aim.sdk import indexer
from aim.sdk.log import iter_segment_events
from aim.sdk.store import RepoStore
from aim.storage.hashes import validate_run_hash
from aim.storage.lock import RunLocks, is_locked
from aim.storage.repair import repair_scans
from aim.storage.segment_reader import scan_segment
from aim.storage.segment_writer import SegmentWriter
from aim.storage.transfer import (
    DestinationExistsError,
    place_run,
    remove_run_dir,
    sweep_leftovers,
)


@dataclass
class Outcome:
    """What happened to one run in a bulk operation."""

    hash: str
    ok: bool
    message: str = ""


@dataclass
class Tip:
    """The end of a run's log: enough to append to it without replaying it."""

    last_seq: int
    deleted: bool
    status: str
    log_size: int
    summary: RunSummary | None  # set when the log had to be replayed


def _now() -> float:
    return time.time_ns() // 1_000_000 / 1000


@contextmanager
def locked(repo: RepoStore, run_hash: str) -> Iterator[Tip]:
    """Hold a run's writer lock, with its torn tail repaired, and say where its log ends.

    A run that closed cleanly and whose size matches the index is trusted from the index
    (constant cost); anything else (crashed, unknown, stale) is replayed once.
    """
    layout = repo.layout
    validate_run_hash(run_hash)
    if repo.remote is not None:
        raise RemoteError(f"{repo.remote} is read here from a local view: change run {run_hash} "
                          "where it is written, then upload it")
    if not layout.run_dir(run_hash).is_dir():
        raise RunNotFoundError(f"no run {run_hash} in {layout.root}")
    lock = RunLocks(layout.lock_files(run_hash))
    lock.acquire()  # RunLockedError names the live writer (of any stream)
    try:
        yield _tip(repo, run_hash)
    finally:
        lock.release()


def _tip(repo: RepoStore, run_hash: str) -> Tip:
    layout = repo.layout
    row = repo.index.run_row(run_hash)
    size = indexer.log_size(layout, run_hash)
    several = len(layout.stream_ids(run_hash)) > 1  # the row's last_seq counts every stream
    if not several and row is not None and row["status"] in ev.END_STATUSES and row["log_size"] == size:
        return Tip(row["last_seq"], bool(row["deleted"]), row["status"], size, None)
    summary, scans, _ = indexer.replay_run(layout, run_hash)
    if summary.last_seq < 0:
        # We hold the lock, so no live writer is about to write a first frame: its writer died
        # before writing anything. Appending here would make a run of one tombstone; refuse,
        # and leave the directory to verify --repair (it holds nothing to lose).
        raise RunNotFoundError(f"run {run_hash} holds no event: its writer died before its first write",
                               hint="aim storage verify --repair removes it")
    if repair_scans(scans).changed:
        size = indexer.log_size(layout, run_hash)
    if summary.status == ev.STATUS_RUNNING:
        summary.status = ev.STATUS_CRASHED  # we hold its lock: no live writer (see indexer.heal)
    # Maintenance appends to the primary stream (edits and tombstones live there): its seq.
    last_seq = summary.streams[0][1].last_seq if summary.streams else summary.last_seq
    return Tip(last_seq, summary.deleted, summary.status, size, summary)


def append_events(repo: RepoStore, run_hash: str, tip: Tip, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Write ``events`` as one frame in a new, sealed segment of the primary stream, with the
    run's lock held (``locked``), and update the index row."""
    batch = []
    seq = tip.last_seq
    for etype, payload in events:
        seq += 1
        batch.append({"seq": seq, "ts": _now(), "type": etype, **payload})
    writer = SegmentWriter(repo.layout.events_dir(run_hash))
    writer.write(encode_events(batch))
    writer.seal()
    size = tip.log_size + writer.bytes_written
    if tip.summary is not None and tip.summary.streams:  # several streams: merged again
        summary, _, size = indexer.replay_run(repo.layout, run_hash)
        if summary.status == ev.STATUS_RUNNING:
            summary.status = ev.STATUS_CRASHED
        _materialize(repo, summary, size)
        return
    if tip.summary is not None:
        for e in batch:
            apply(tip.summary, e)
        _materialize(repo, tip.summary, size)
        return
    fields: dict[str, Any] = {"last_seq": seq, "log_size": size}
    tags: list[str] | None = None
    for etype, payload in events:
        if etype == ev.META_SET:
            value = payload["value"]
            fields[payload["field"]] = int(value) if payload["field"] == "archived" else value
        elif etype in (ev.TAG_ADDED, ev.TAG_REMOVED):
            if tags is None:
                row = repo.index.run_row(run_hash)
                tags = orjson.loads(row["tags"]) if row is not None else []
            tag = payload["tag"]  # as core.projection folds it
            if etype == ev.TAG_REMOVED:
                tags = [t for t in tags if t != tag]
            elif tag not in tags:
                tags.append(tag)
            fields["tags"] = orjson.dumps(tags).decode()
        elif etype == ev.RUN_DELETED:
            fields["deleted"] = 1
        elif etype == ev.RUN_RESTORED:
            fields["deleted"] = 0
        elif etype == ev.RUN_FINISHED:
            fields["status"] = payload["status"]
            fields["end_time"] = batch[-1]["ts"]
    if not repo.index.update_run(run_hash, **fields):
        summary, _, size = indexer.replay_run(repo.layout, run_hash)
        _materialize(repo, summary, size)


def _materialize(repo: RepoStore, summary: RunSummary, log_size: int) -> None:
    """Make the index rows of a replayed run exactly the log's.

    ``write_summary`` upserts; a sequence row the log does not hold would stay. A writer that
    died can leave such rows: it indexes a new sequence from its in-memory state, which may be
    ahead of what reached the log (a system sample recorded just before the kill). Those are
    dropped first, so a closed, deleted or restored run agrees with its log (verify checks it).
    """
    wanted = {(name, ckey.decode()) for name, ckey in summary.sequences}
    if any((row[0], row[1]) not in wanted for row in repo.index.sequence_rows(summary.hash)):
        repo.index.remove_run(summary.hash)
    indexer.write_summary(repo.index, summary, log_size)


def _heal_row(repo: RepoStore, tip: Tip) -> None:
    """The log already says what was asked (a retry after a kill that landed between the new
    segment and the index update): bring the index row in line with it."""
    if tip.summary is not None:
        _materialize(repo, tip.summary, tip.log_size)


def _each(hashes: Iterable[str], op: Any) -> list[Outcome]:
    out = []
    for h in hashes:
        try:
            out.append(op(h))
        except (AimError, OSError) as exc:
            out.append(Outcome(h if isinstance(h, str) else repr(h), False, str(exc)))
    return out


def delete(repo: RepoStore, hashes: Iterable[str]) -> list[Outcome]:
    """Tombstone runs: one ``run.deleted`` event each. Live and missing runs are failures."""
    return _each(hashes, lambda h: delete_one(repo, h))


def delete_one(repo: RepoStore, run_hash: str) -> Outcome:
    """Tombstone one run; raises what stops it (``RunLockedError``, ``RunNotFoundError``...)."""
    with locked(repo, run_hash) as tip:
        if tip.deleted:
            _heal_row(repo, tip)
            return Outcome(run_hash, True, "already deleted")
        append_events(repo, run_hash, tip, [(ev.RUN_DELETED, {})])
    return Outcome(run_hash, True, "deleted")


def restore(repo: RepoStore, hashes: Iterable[str]) -> list[Outcome]:
    """Undo deletes (until prune): one ``run.restored`` event each."""
    return _each(hashes, lambda h: restore_one(repo, h))


def restore_one(repo: RepoStore, run_hash: str) -> Outcome:
    """Undo one run's delete; raises what stops it."""
    with locked(repo, run_hash) as tip:
        if not tip.deleted:
            _heal_row(repo, tip)
            return Outcome(run_hash, True, "not deleted")
        append_events(repo, run_hash, tip, [(ev.RUN_RESTORED, {})])
    return Outcome(run_hash, True, "restored")


def edit(repo: RepoStore, run_hash: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Append metadata events (``meta.set`` of name, description or archived; ``tag.added``,
    ``tag.removed``) to a run no live writer holds, as one frame: what ``aim up`` does when a
    run is renamed, tagged or archived. Its status and end time stay as they are (resuming it
    as a writer would make it running again). Raises ``RunLockedError`` for a live run."""
    with locked(repo, run_hash) as tip:
        if tip.deleted:
            raise AimError(f"run {run_hash} is deleted: restore it first")
        append_events(repo, run_hash, tip, events)


def close(repo: RepoStore, hashes: Iterable[str]) -> list[Outcome]:
    """Finish runs a dead process left open: repair the tail, append ``run.finished``.

    The status recorded is ``terminated``: the process did not end the run itself.
    """

    def one(h: str) -> Outcome:
        with locked(repo, h) as tip:
            if tip.status not in (ev.STATUS_RUNNING, ev.STATUS_CRASHED):
                _heal_row(repo, tip)
                return Outcome(h, True, f"already {tip.status}")
            append_events(repo, h, tip, [(ev.RUN_FINISHED, {"status": ev.STATUS_TERMINATED,
                                                        "reason": "closed after its writer died"})])
        return Outcome(h, True, "closed")

    return _each(hashes, one)


def stale_runs(repo: RepoStore) -> list[str]:
    """Runs whose last writer session never finished and whose lock is free (crashed)."""
    return [r["hash"] for r in repo.list_runs(include_deleted=True) if r["status"] == ev.STATUS_CRASHED]


# --- prune -------------------------------------------------------------------------------------
@dataclass
class PruneReport:
    """What a prune freed."""

    runs: list[str] = field(default_factory=list)
    bytes: int = 0  # bytes of the removed runs' event logs
    names: list[str] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)
    sequences: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    param_keys: list[str] = field(default_factory=list)
    leftovers: int = 0
    skipped: list[Outcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {"runs": len(self.runs), "bytes": self.bytes, "names": self.names,
                "contexts": self.contexts, "param_keys": self.param_keys,
                "leftovers": self.leftovers, "skipped": [o.__dict__ for o in self.skipped]}


def _tombstoned(repo: RepoStore, run_hash: str) -> bool:
    """Read the run's last segment only: its last event says whether it is deleted now.
    (Tombstones live in the primary stream; no other stream's writer attaches to a deleted run.)"""
    paths = repo.layout.stream_segment_paths(run_hash)
    for path in reversed(paths):
        last = None
        for event in iter_segment_events(path):
            if event.get("type") in (ev.RUN_DELETED, ev.RUN_RESTORED):
                last = event["type"]
        if last is not None:
            return last == ev.RUN_DELETED
        if scan_segment(path).frames:
            return False  # a later segment with other events: the run was resumed, so live
    return False


def prune(repo: RepoStore) -> PruneReport:
    """Remove tombstoned runs and everything only they used from the registry."""
    index = repo.index
    before_seq = set(index.registry_sequences())
    before_params = set(index.registry_params())
    report = PruneReport()
    report.leftovers = len(sweep_leftovers(repo.layout))
    for row in index.run_rows(only_deleted=True):
        h = row["hash"]
        try:
            with locked(repo, h):
                if not _tombstoned(repo, h):
                    continue  # restored or resumed meanwhile: the index heals this row
                # The event log's bytes: what the user's data took. (The whole directory also
                # holds the LOCK file, which this prune may just have created.)
                report.bytes += indexer.log_size(repo.layout, h)
                remove_run_dir(repo.layout, h)
            index.remove_run(h)
            report.runs.append(h)
        except RunLockedError as exc:
            report.skipped.append(Outcome(h, False, str(exc)))
        except RunNotFoundError:
            index.remove_run(h)
    after_seq = set(index.registry_sequences())
    gone = before_seq - after_seq
    report.sequences = [(n, orjson.loads(c)) for n, c in sorted(gone)]
    report.names = sorted({n for n, _ in before_seq} - {n for n, _ in after_seq})
    ctx_after = {c for _, c in after_seq}
    report.contexts = [orjson.loads(c) for c in sorted({c for _, c in before_seq} - ctx_after)]
    report.param_keys = sorted(before_params - set(index.registry_params()))
    return report


def remove_all(repo: RepoStore) -> list[Outcome]:
    """Remove every run for good: ``aim init -y``, Aim's re-initialization to an empty repository.

    Refused as a whole (``RunLockedError``, nothing removed) while a live writer holds any run.
    Each run then goes the way prune removes one: under its lock, renamed into ``trash/`` and
    deleted, so a kill anywhere leaves every run either whole or gone. Then the leftovers of
    interrupted work are swept and the index rebuilt.
    """
    from aim.storage.lock import read_holder_pid

    layout = repo.layout
    hashes = indexer.run_hashes_on_disk(layout)
    for h in hashes:
        live = [p for p in layout.lock_files(h) if is_locked(p)]
        if live:
            pid = read_holder_pid(live[0])
            raise RunLockedError(
                f"run {h} is open for writing by {f'process {pid}' if pid else 'another process'}: "
                f"{layout.root} was not re-initialized, nothing was removed",
                pid=pid, hint="close it there first")

    def one(h: str) -> Outcome:
        lock = RunLocks(layout.lock_files(h))
        lock.acquire()  # a writer that started since the check is refused, and kept
        try:
            remove_run_dir(layout, h)
        finally:
            lock.release()
        return Outcome(h, True, "removed")

    out = _each(hashes, one)
    sweep_leftovers(layout)
    repo.reindex()
    return out


# --- copy / move -------------------------------------------------------------------------------
def copy(repo: RepoStore, hashes: Iterable[str], dest: RepoStore, *, move: bool = False) -> list[Outcome]:
    """Copy (or move) runs into ``dest``. Live runs and hashes present at ``dest`` fail."""
    if dest.layout.root == repo.layout.root:
        raise AimError("source and destination are the same repository")

    def one(h: str) -> Outcome:
        with locked(repo, h) as tip:  # refuses a live run; repairs a crashed one's tail
            if dest.has_run(h):
                if not (move and _same_run(repo, dest, h)):
                    raise DestinationExistsError(f"run {h} already exists in {dest.path}")
                # A move killed after placing the run and before removing the source: the
                # destination holds the same segments, so finish the job.
                remove_run_dir(repo.layout, h)
                how = "finished an interrupted move"
            else:
                placed = place_run(repo.layout.run_files(h), repo.layout.run_dir(h), dest.layout, h)
                if tip.summary is None:
                    # The source index is trusted for this run (closed cleanly, same size):
                    # carry its rows over instead of replaying the log, so a copy costs the
                    # same for a 1k-event run and a 1M-event one.
                    row = repo.index.run_row(h)
                    assert row is not None
                    dest.index.write_run(row, repo.index.sequence_rows(h), repo.index.param_key_rows(h),
                                         objects=repo.index.object_rows(h))
                else:
                    indexer.write_summary(dest.index, tip.summary, tip.log_size)
                if move:
                    remove_run_dir(repo.layout, h)
                how = f"{placed.linked} linked, {placed.copied} copied"
        if move:
            repo.index.remove_run(h)
        return Outcome(h, True, f"{'moved' if move else 'copied'} ({how})")

    def guarded(h: str) -> Outcome:
        try:
            return one(h)
        except DestinationExistsError as exc:
            return Outcome(h, False, str(exc))

    return _each(hashes, guarded)


def _same_run(src: RepoStore, dest: RepoStore, run_hash: str) -> bool:
    """True when ``dest`` holds exactly ``src``'s segments (same names, same bytes)."""
    import filecmp

    a, b = src.layout.segment_paths(run_hash), dest.layout.segment_paths(run_hash)
    if ([src.layout.run_file_name(run_hash, p) for p in a]
            != [dest.layout.run_file_name(run_hash, p) for p in b]):
        return False
    return all(os.path.samefile(x, y) or filecmp.cmp(x, y, shallow=False) for x, y in zip(a, b))


# --- selectors ---------------------------------------------------------------------------------
def resolve_hashes(candidates: list[str], patterns: Iterable[str]) -> tuple[list[str], list[Outcome]]:
    """Expand CLI selectors: full hashes, unique prefixes (like git) and shell-style globs."""
    import fnmatch
    import re

    chosen: list[str] = []
    errors: list[Outcome] = []
    for pat in patterns:
        if not re.fullmatch(r"[0-9a-f*?\[\]!-]{1,24}", pat or ""):
            errors.append(Outcome(pat, False, f"invalid run hash or pattern {pat!r}"))
            continue
        if any(c in pat for c in "*?["):
            hits = fnmatch.filter(candidates, pat)
            if not hits:
                errors.append(Outcome(pat, False, f"no run matches {pat!r}"))
        else:
            hits = [c for c in candidates if c.startswith(pat)]
            if not hits:
                errors.append(Outcome(pat, False, f"no run {pat}"))
            elif len(hits) > 1 and pat not in hits:
                errors.append(Outcome(pat, False, f"prefix {pat!r} is ambiguous ({len(hits)} runs)"))
                hits = []
            elif pat in hits:
                hits = [pat]
        chosen += [h for h in hits if h not in chosen]
    return chosen, errors


def dest_repo(path: str | Path) -> RepoStore:
    """Open a destination repository (it must exist: a typo should not create one)."""
    return RepoStore(path)
