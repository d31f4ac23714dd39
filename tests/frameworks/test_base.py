"""The helpers every integration shares (aim/frameworks/base.py)."""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np
import pytest
import torch

from aim import Run
from aim.frameworks.base import RunHolder, as_number, storable


class Color(enum.Enum):
    RED = "red"


def test_storable_turns_framework_values_into_params(tmp_path: Path):
    value = {
        "lr": np.float32(0.5), "steps": np.int64(3), "dtype": torch.float32, "path": Path("/x"),
        "fn": print, "cls": Run, "set": {3, 1}, "color": Color.RED, "t": torch.tensor(2.0),
        "seed": 2**64 - 1, "nested": {1: (1, 2)}, "obj": object,
    }
    stored = storable(value)
    assert stored == {
        "lr": 0.5, "steps": 3, "dtype": "torch.float32", "path": "/x", "fn": "print", "cls": "Run",
        "set": [1, 3], "color": "red", "t": 2.0, "seed": str(2**64 - 1), "nested": {"1": [1, 2]},
        "obj": "object",
    }
    run = Run(repo=tmp_path, system_tracking_interval=None, capture_terminal_logs=False)
    run["hparams"] = stored  # aim accepts every value storable returns
    run.close()
    assert Run(run.hash, repo=tmp_path, read_only=True)["hparams"] == stored


def test_as_number_accepts_scalars_and_refuses_the_rest():
    assert as_number(torch.tensor(2.5)) == 2.5
    assert as_number(np.float64(1.5)) == 1.5 and as_number(np.int32(4)) == 4
    assert as_number(True) == 1
    assert as_number("0.5") is None and as_number(torch.ones(3)) is None and as_number(None) is None


def test_run_holder_reopens_the_same_run_and_closes_with_a_status(tmp_path: Path):
    holder = RunHolder(repo=str(tmp_path), experiment="e", run_name="n", system_tracking_interval=None,
                       capture_terminal_logs=False, log_system_params=False)
    assert holder.track(torch.tensor(1.0), "loss", step=0) and not holder.track("text", "loss")
    first = holder.run_hash
    holder.close()
    holder.track(2.0, "loss", step=1)  # reopened by hash
    assert holder.run_hash == first
    holder.close("failed")
    run = Run(first, repo=tmp_path, read_only=True)
    assert run.get_metric("loss").values == [1.0, 2.0]
    assert run.status == "failed" and run.name == "n" and run.experiment == "e"
    with pytest.raises(ValueError, match="status must be one of"):
        holder.close("crashed")
