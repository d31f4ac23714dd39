"""How W&B's keys and values are named and typed here, as Aim's own W&B converter has them
(``aim/cli/convert/processors/wandb.py``): history keys as names and contexts, system metrics
as ``__system__*`` names, histograms as ``Distribution``, the ``epoch`` key, numbers."""

from __future__ import annotations

import re
from typing import Any

from aim.core.run_state import SYSTEM_PREFIX
from aim.sdk.objects.base import AimObject

SUBSETS = ("train", "val", "test")  # checked in this order, as Aim's converter does

# Aim's map of W&B system metric names (None there: not mapped), plus the names wandb-core
# gives the same readings (``memory_percent``, ``disk./.usagePercent``).
SYSTEM_NAMES: dict[str, dict[str, str]] = {
    "": {"cpu": "cpu", "disk": "disk_percent", "memory": "memory_percent",
         "memory_percent": "memory_percent", "disk./.usagePercent": "disk_percent"},
    "gpu": {"gpu": "gpu", "memory": "gpu_memory_percent", "powerWatts": "gpu_power_watts", "temp": "gpu_temp"},
    "proc": {"memory.percent": "p_memory_percent"},
}


def metric_key(key: str) -> tuple[str, dict[str, Any]]:
    """A W&B history key as Aim's converter names it: ``"train/loss"`` is ``loss`` in the
    context ``{"tag": "train", "subset": "train"}``; a key with no ``/`` has no context."""
    if "/" not in key:
        return key, {}
    tag, name = key.rsplit("/", 1)
    for subset in SUBSETS:
        if subset in tag:
            return name, {"tag": tag, "subset": subset}
    return name, {"tag": tag}


def system_metric(key: str) -> tuple[str, dict[str, Any]] | None:
    """A W&B system metric as Aim's converter names it (``gpu.0.temp`` is ``__system__gpu_temp``
    in ``{"gpu": 0, "tag": "system", "subset": "gpu"}``), or None for one it does not map."""
    name = key.removeprefix("system.")
    context: dict[str, Any]
    if name.startswith("gpu."):
        name, group = name[len("gpu."):], "gpu"
        index = re.match(r"([0-9]+)\.", name)
        context = {"gpu": int(index.group(1)) if index else "no_idx", "tag": "system", "subset": "gpu"}
        if index:
            name = name[index.end():]
    elif name.startswith("proc."):
        name, group = name[len("proc."):], "proc"
        context = {"tag": "system", "subset": "proc"}
    else:
        group, context = "", {"tag": "system"}
    mapped = SYSTEM_NAMES[group].get(name)
    return None if mapped is None else (SYSTEM_PREFIX + mapped, context)


def distribution(media: dict[str, Any]) -> AimObject | None:
    """A W&B histogram (``bins``: edges, ``values``: counts; or ``packedBins``) as an
    ``aim.Distribution``, which holds equal-width bins only: None for others."""
    import numpy as np

    from aim.sdk.objects.distribution import Distribution

    counts = media["values"]
    packed = media.get("packedBins")
    if isinstance(packed, dict):
        edges = packed["min"] + packed["size"] * np.arange(packed["count"] + 1, dtype=np.float64)
    else:
        edges = np.asarray(media["bins"], dtype=np.float64)
    if len(edges) != len(counts) + 1 or len(counts) == 0:
        return None
    even = np.linspace(edges[0], edges[-1], len(edges))
    if not np.allclose(edges, even, rtol=0, atol=1e-6 * abs(edges[-1] - edges[0])):
        return None
    return Distribution(hist=counts, bin_range=(edges[0], edges[-1]))


def epoch_of(value: Any) -> int | None:
    """The history's ``epoch`` key as each point's epoch, as Aim's converter takes it (when it
    is a whole number)."""
    if is_number(value) and float(value).is_integer() and value >= 0:
        return int(value)
    return None


def is_number(value: Any) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_step(value: Any) -> bool:
    """A whole number a step can be (an int >= 0, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
