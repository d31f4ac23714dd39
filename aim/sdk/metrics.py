"""Read-back of metric sequences from a run's log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.sdk.log import iter_events


@dataclass
class MetricSequence:
    """One (name, context) sequence, sorted by step; for a repeated step the last value wins."""

    name: str
    context: dict[str, Any]
    steps: list[int] = field(default_factory=list)
    values: list[float | int] = field(default_factory=list)
    epochs: list[int | None] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)

    def last(self) -> tuple[int, float | int] | None:
        """(step, value) at the highest step, or None when empty."""
        return (self.steps[-1], self.values[-1]) if self.steps else None

    def items(self) -> list[tuple[int, float | int]]:
        """(step, value) pairs."""
        return list(zip(self.steps, self.values))


def read_metric(segments: list[Path], name: str, context: dict[str, Any]) -> MetricSequence:
    """Collect one sequence from segment files (a streaming pass over the log)."""
    by_step: dict[int, tuple[Any, Any, Any]] = {}
    want = context_key(context)
    for event in iter_events(segments):
        if event.get("type") == ev.METRIC and event.get("name") == name \
                and (event.get("context") or {}) == context \
                and context_key(event.get("context") or {}) == want:  # 1 == True, but not in JSON
            by_step[event["step"]] = (event.get("value"), event.get("epoch"), event.get("ts"))
    seq = MetricSequence(name, dict(context))
    for step in sorted(by_step):
        value, epoch, ts = by_step[step]
        seq.steps.append(step)
        seq.values.append(value)
        seq.epochs.append(epoch)
        seq.timestamps.append(ts)
    return seq
