"""Forks: a new run whose history up to a step is its parent's (``Run(fork_from=h, fork_step=N)``,
``aim runs fork h --step N``), without copying the parent's sealed segments.

A fork's directory holds **hard links** to the parent's sealed segments and blobs (files that
never change again), a copy of the verified frames of a segment the parent is still writing (or
that a crash tore), and one segment of its own whose first event is ``run.forked``: a marker
(``core/history.py``) that keeps, of every step event before it, only the steps up to N. So a
fork is a run like any other: read, copied, moved, uploaded, deleted and pruned with no
knowledge of its parent, and pruning the parent frees nothing the fork needs (the kernel keeps
a linked file while one name is left). A fork of a fork links the fork's files. On another
filesystem (a copy), links become copies, as for ``aim runs cp``.

The fork is assembled under ``tmp/`` and renamed into ``runs/`` in one step: a kill leaves
either no fork or a whole one (``verify --repair`` sweeps the leftover).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import orjson

from aim.core import events as ev
from aim.core.encoding import encode_events
from aim.errors import RunClosedError, RunNotFoundError
from aim.sdk import indexer
from aim.sdk.store import RepoStore
from aim.storage.hashes import new_run_hash, validate_run_hash
from aim.storage.layout import PRIMARY, segment_name
from aim.storage.lock import RunLock, is_locked
from aim.storage.segment_reader import SegmentScan, iter_payloads
from aim.storage.segment_writer import SegmentWriter


def check_step(step: Any) -> int:
    """A fork or rewind step: an int >= 0 (``ValueError`` otherwise)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"the step to fork or rewind at must be an int >= 0, got {step!r}")
    return step


def fork_run(repo: RepoStore, parent: str, step: int, *, experiment: str | None = None,
             finished: bool = False, hold_lock: bool = False) -> tuple[str, RunLock | None]:
    """Create a fork of ``parent`` at ``step``; return its hash and, with ``hold_lock``, its
    writer lock (held: the caller writes it next). ``finished``: the fork is closed at once
    (``aim runs fork``), to be resumed by ``Run(run_hash=...)``."""
    layout = repo.layout
    validate_run_hash(parent)
    check_step(step)
    if not layout.run_dir(parent).is_dir():
        raise RunNotFoundError(f"no run {parent} in {layout.root}")
    row = repo.index.run_row(parent)
    if row is not None and row["deleted"]:
        raise RunClosedError(f"run {parent} is deleted", hint=f"restore it first: aim runs restore {parent}")
    child = new_run_hash()
    layout.tmp.mkdir(parents=True, exist_ok=True)
    work = layout.tmp / f"{child}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    lock: RunLock | None = None
    try:
        extents: dict[str, int] = {}
        for stream in layout.stream_ids(parent):
            last = _link_stream(layout, parent, stream, work)
            if last >= 0 or stream == PRIMARY:
                extents[stream] = last
        for blob in layout.blob_paths(parent):
            target = work / blob.relative_to(layout.run_dir(parent))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(blob, target)
        primary_last = extents.pop(PRIMARY)
        if primary_last < 0:
            raise RunNotFoundError(f"run {parent} holds no event to fork")
        now = time.time_ns() // 1_000_000 / 1000
        summary_experiment = experiment or (row["experiment"] if row is not None else None)
        batch: list[dict[str, Any]] = [{
            "seq": primary_last + 1, "ts": now, "type": ev.RUN_FORKED, "hash": child, "from": parent,
            "step": step, "extents": extents, "experiment": summary_experiment, "pid": os.getpid(),
            "host": socket.gethostname(), "format": ev.FORMAT_VERSION}]
        if summary_experiment is None:
            del batch[0]["experiment"]  # the parent's, as its log says
        if finished:
            batch.append({"seq": primary_last + 2, "ts": now, "type": ev.RUN_FINISHED,
                          "status": ev.STATUS_FINISHED})
        writer = SegmentWriter(work / "events")
        writer.write(encode_events(batch))
        writer.seal()
        if hold_lock:
            lock = RunLock(work / "LOCK")
            lock.acquire()
        os.rename(work, layout.run_dir(child))
        if lock is not None:
            lock.path = layout.lock_file(child)
    except BaseException:
        if lock is not None:
            lock.release()
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not hold_lock:
        indexer.refresh(layout, repo.index, [child])
    return child, lock


def _link_stream(layout: Any, parent: str, stream: str, work: Path) -> int:
    """Link (or, for a segment still written or torn, copy the verified frames of) one of the
    parent's streams into ``work``; return the last seq taken, -1 when none."""
    src = layout.events_dir(parent, stream)
    numbers = layout.segment_numbers(parent, stream)
    if not numbers:
        return -1
    dest = work / src.relative_to(layout.run_dir(parent))
    dest.mkdir(parents=True)
    live = is_locked(layout.lock_file(parent, stream))
    for i, number in enumerate(numbers):
        path = src / segment_name(number)
        data = path.read_bytes() if i == len(numbers) - 1 else None
        if data is not None:
            scan = SegmentScan(path)
            for _ in iter_payloads(data, scan):
                pass
            if live or not scan.clean:
                (dest / path.name).write_bytes(data[: scan.good_end])  # what is whole now
                continue
        os.link(path, dest / path.name)
    for path in reversed(sorted(dest.iterdir())):  # the last seq: the last frame's last line
        last = b""
        for payload in iter_payloads(path.read_bytes(), SegmentScan(path)):
            last = payload or last
        for line in reversed(last.splitlines()):
            try:
                seq = orjson.loads(line).get("seq")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(seq, int):
                return seq
    return -1


def rewind_run(repo: RepoStore, run_hash: str, step: int) -> None:
    """``aim runs rewind HASH --step N``: append a ``run.rewound`` marker to a run no writer
    holds, under every stream's lock, in a segment of its own. The run's status stays; its
    current history ends at step N until a writer (``Run(run_hash=...)``) carries it on.
    Nothing is erased: ``aim runs tail --all`` shows what the marker left out."""
    # Imported here: maintenance sits beside forks, and its lock discipline is the one used.
    from aim.sdk import maintenance

    check_step(step)
    with maintenance.locked(repo, run_hash) as tip:
        if tip.deleted:
            raise RunClosedError(f"run {run_hash} is deleted",
                                 hint=f"restore it first: aim runs restore {run_hash}")
        # The other streams' last seqs (a run several processes wrote: docs/distributed.md).
        streams = tip.summary.streams if tip.summary is not None else []
        extents = {sid: s.last_seq for sid, s, _ in streams if sid != PRIMARY}
        maintenance.append_events(repo, run_hash, tip, [(ev.RUN_REWOUND, {"step": step, "extents": extents})])
    indexer.refresh(repo.layout, repo.index, [run_hash])  # every sequence's points change
