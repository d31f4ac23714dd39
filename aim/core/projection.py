"""Fold events into run summaries: the one replay behind the index, reindex and read-back.

A sequence (one metric name + context) is summarized by ``[next_step, points, last_value,
context]``: ``points`` counts metric events (a rewritten step counts again), ``next_step`` is
one above the highest step seen (what an automatic step uses next), and ``last_value`` is the
value of the latest event at the highest step, matching the "last value per step wins" rule.
``RunState.track`` applies the same rule inline on the hot path; the property tests
check the two stay equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.core.history import Bound, keeps
from aim.core.params import as_path, copy_tree, delete_path, set_path

# Indexes into a sequence entry.
NEXT_STEP, POINTS, LAST_VALUE, CONTEXT = 0, 1, 2, 3

SeqKey = tuple[str, bytes]


@dataclass
class RunSummary:
    """Everything the index knows about one run, derived from its events alone."""

    hash: str
    experiment: str = "default"
    name: str | None = None
    description: str | None = None
    archived: bool = False
    tags: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    creation_time: float | None = None
    end_time: float | None = None
    status: str = ev.STATUS_RUNNING
    deleted: bool = False
    last_seq: int = -1
    sequences: dict[SeqKey, list[Any]] = field(default_factory=dict)
    # Object sequences (images, texts...): [next_step, points, kind, context], keyed as metrics.
    objects: dict[SeqKey, list[Any]] = field(default_factory=dict)
    # A run of several streams, merged from a replay: each stream's (id, summary, log bytes).
    streams: list[tuple[str, RunSummary, int]] = field(default_factory=list)
    # A fork: {"hash": parent, "step": N}, from its run.forked event.
    forked_from: dict[str, Any] | None = None


OBJ_NEXT_STEP, OBJ_POINTS, OBJ_KIND, OBJ_CONTEXT = range(4)


def apply_metric(entry: list[Any], step: int, value: Any) -> None:
    """Fold one metric sample into its sequence entry."""
    if step >= entry[NEXT_STEP] - 1:
        entry[NEXT_STEP] = step + 1
        entry[LAST_VALUE] = value
    entry[POINTS] += 1


def new_sequence_entry(context: dict[str, Any]) -> list[Any]:
    """An empty sequence entry: no points, next automatic step 0."""
    return [0, 0, None, context]


def apply(summary: RunSummary, event: dict[str, Any]) -> None:
    """Fold one event into ``summary``. Unknown types and fields are ignored."""
    etype = event.get("type")
    seq = event.get("seq")
    if isinstance(seq, int) and seq > summary.last_seq:
        summary.last_seq = seq
    if etype == ev.METRIC:
        name = event.get("name")
        if not isinstance(name, str):
            return  # not an event aim writes: ignored, as readers ignore what they do not know
        context = event.get("context") or {}
        key = (name, context_key(context))
        entry = summary.sequences.get(key)
        if entry is None:
            entry = summary.sequences[key] = new_sequence_entry(context)
        apply_metric(entry, event.get("step", 0), event.get("value"))
    elif etype == ev.OBJECT:
        name, kind, step = event.get("name"), event.get("kind"), event.get("step")
        if not isinstance(name, str) or not isinstance(kind, str) or not isinstance(step, int):
            return
        context = event.get("context") or {}
        key = (name, context_key(context))
        entry = summary.objects.get(key)
        if entry is None:
            entry = summary.objects[key] = [0, 0, kind, context]
        if step >= entry[OBJ_NEXT_STEP] - 1:  # as apply_metric: the last value per step wins
            entry[OBJ_NEXT_STEP] = step + 1
        entry[OBJ_POINTS] += 1
    elif etype == ev.PARAM_SET:
        set_path(summary.params, as_path(event["path"]), event.get("value"))
    elif etype == ev.PARAM_DELETED:
        delete_path(summary.params, as_path(event["path"]))
    elif etype == ev.META_SET:
        fld = event.get("field")
        if fld in ev.META_FIELDS:
            setattr(summary, fld, event.get("value"))
    elif etype == ev.TAG_ADDED:
        if event.get("tag") not in summary.tags:
            summary.tags.append(event["tag"])
    elif etype == ev.TAG_REMOVED:
        if event.get("tag") in summary.tags:
            summary.tags.remove(event["tag"])
    elif etype == ev.RUN_STARTED:
        summary.creation_time = event.get("ts")
        summary.experiment = event.get("experiment") or "default"
        if event.get("name") is not None:
            summary.name = event["name"]
        summary.status = ev.STATUS_RUNNING
        summary.end_time = None
    elif etype == ev.RUN_FORKED:
        # A new run whose history so far is its parent's up to a step (core/history.py).
        summary.creation_time = event.get("ts")
        summary.experiment = event.get("experiment") or summary.experiment
        summary.name = summary.description = None
        summary.archived = summary.deleted = False
        summary.forked_from = {"hash": event.get("from"), "step": event.get("step")}
        summary.status = ev.STATUS_RUNNING
        summary.end_time = None
    elif etype == ev.STREAM_STARTED:
        summary.creation_time = event.get("ts")
        summary.experiment = event.get("experiment") or "default"
        summary.status = ev.STATUS_RUNNING
        summary.end_time = None
    elif etype == ev.RUN_RESUMED:
        summary.status = ev.STATUS_RUNNING
        summary.end_time = None
    elif etype == ev.RUN_FINISHED:
        summary.status = event.get("status") or ev.STATUS_FINISHED
        summary.end_time = event.get("ts")
    elif etype == ev.RUN_DELETED:
        summary.deleted = True
    elif etype == ev.RUN_RESTORED:
        summary.deleted = False


def merge_streams(primary: RunSummary, others: list[RunSummary]) -> RunSummary:
    """One run's summary from its streams' (``primary`` first, then the others in stream
    order: docs/distributed.md). The one definition of how streams combine:

    - name, description, archived, tags' order and the tombstone are the primary's (edits go
      there); tags another stream added join after them; the experiment is the primary's once
      it has started, else the first started stream's;
    - params merge leaf by leaf, and the earlier stream wins a conflict: rank 0 wins;
    - sequences and object sequences are the union; one written by several streams counts all
      their points, and its last value is the one at the highest step (the earlier stream's on
      a tie);
    - creation time is the earliest start; the status is running while any stream runs, else
      failed if any failed, else terminated if any was, else finished; the end time is the
      latest end once none runs;
    - ``last_seq`` counts the run's events (the sum over streams, minus one).
    """
    if not others:
        return primary
    out = RunSummary(hash=primary.hash)
    started = [s for s in (primary, *others) if s.creation_time is not None]
    first = primary if primary.creation_time is not None or not started else started[0]
    out.experiment, out.name, out.description = first.experiment, primary.name, primary.description
    out.archived, out.deleted, out.forked_from = primary.archived, primary.deleted, primary.forked_from
    out.tags = list(primary.tags)
    times = [s.creation_time for s in started if s.creation_time is not None]
    out.creation_time = min(times) if times else None
    out.last_seq = sum(s.last_seq + 1 for s in (primary, *others)) - 1
    statuses = {s.status for s in (primary, *others) if s.last_seq >= 0}
    for status in (ev.STATUS_RUNNING, ev.STATUS_FAILED, ev.STATUS_TERMINATED, ev.STATUS_FINISHED):
        if status in statuses:
            out.status = status
            break
    ends = [s.end_time for s in (primary, *others) if s.end_time is not None]
    out.end_time = max(ends) if ends and out.status != ev.STATUS_RUNNING else None
    out.params = _merged_params([s.params for s in (primary, *others)])
    for s in (primary, *others):
        out.tags += [t for t in s.tags if t not in out.tags]
        for key, entry in s.sequences.items():
            have = out.sequences.get(key)
            if have is None:
                out.sequences[key] = list(entry)
            else:
                if entry[NEXT_STEP] > have[NEXT_STEP]:
                    have[NEXT_STEP], have[LAST_VALUE] = entry[NEXT_STEP], entry[LAST_VALUE]
                have[POINTS] += entry[POINTS]
        for key, entry in s.objects.items():
            have = out.objects.get(key)
            if have is None:
                out.objects[key] = list(entry)
            else:
                have[OBJ_NEXT_STEP] = max(have[OBJ_NEXT_STEP], entry[OBJ_NEXT_STEP])
                have[OBJ_POINTS] += entry[OBJ_POINTS]
    return out


def _merged_params(trees: list[dict[str, Any]]) -> dict[str, Any]:
    """Leaf-by-leaf union of param trees; the earlier tree wins a conflict."""
    out: dict[str, Any] = {}
    for tree in reversed(trees):
        _overlay(out, tree)
    return out


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _overlay(base[key], value)
        else:
            base[key] = copy_tree(value) if isinstance(value, dict) else value


def replay(run_hash: str, events: Iterable[dict[str, Any]], bound: Bound | None = None) -> RunSummary:
    """Fold a whole event stream into a fresh summary; with ``bound`` (``core.history``), the
    step events a fork or rewind left out of the current history count only for ``last_seq``."""
    summary = RunSummary(hash=run_hash)
    if bound is None:
        for event in events:
            apply(summary, event)
        return summary
    for event in events:
        if keeps(bound, event):
            apply(summary, event)
        else:
            seq = event.get("seq")
            if isinstance(seq, int) and seq > summary.last_seq:
                summary.last_seq = seq
    return summary
