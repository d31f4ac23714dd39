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
from aim.core.params import as_path, delete_path, set_path

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


def replay(run_hash: str, events: Iterable[dict[str, Any]]) -> RunSummary:
    """Fold a whole event stream into a fresh summary."""
    summary = RunSummary(hash=run_hash)
    for event in events:
        apply(summary, event)
    return summary
