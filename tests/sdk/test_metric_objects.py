"""Metric objects in Aim's shapes: array views, Context, data.sample, first/last steps."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from aim import Run
from aim.errors import MissingExtraError
from aim.storage.context import Context


@pytest.fixture
def run_hash(repo_path) -> str:
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        for step in range(0, 20, 2):
            run.track(step / 10, name="loss", step=step, epoch=step // 10, context={"subset": "train"})
        run.track(9.0, name="loss", step=18, context={"subset": "train"})  # last value per step wins
    return run.hash


def test_aims_metric_snippets_run_unchanged(repo_path, run_hash):
    run = Run(run_hash, repo=repo_path, read_only=True)
    metric = run.get_metric("loss", Context({"subset": "train"}))
    assert metric.name == "loss" and metric.context == {"subset": "train"}
    assert metric.context.to_dict() == {"subset": "train"} and metric.run is run
    steps, values = metric.values.sparse_numpy()
    assert steps.dtype == np.int64 and steps.tolist() == list(range(0, 20, 2))
    assert values.tolist() == [s / 10 for s in range(0, 18, 2)] + [9.0]
    assert metric.values.values_list() == values.tolist()
    assert metric.values.indices_list() == steps.tolist()
    assert metric.values.last() == (18, 9.0) and metric.values.first() == (0, 0.0)
    assert (metric.values.first_idx(), metric.values.last_idx()) == (0, 18)
    assert (metric.first_step(), metric.last_step(), len(metric)) == (0, 18, 10)
    assert metric.epochs.values_list()[:2] == [0, 0]
    assert np.isnan(metric.epochs.values_numpy()[-1])  # the rewrite of step 18 had no epoch
    assert len(metric.timestamps.values_numpy()) == 10
    assert metric.values == values.tolist()  # still a list, as before
    sampled = metric.data.sample(4)
    assert sampled.indices_list() == [0, 6, 12, 18] and sampled.values_list()[-1] == 9.0
    s_steps, (s_values, s_epochs, s_times) = metric.data.sample(3).items_list()
    assert s_steps == [0, 8, 18] and len(s_values) == len(s_epochs) == len(s_times) == 3


def test_contexts_are_hashable_and_equal_to_their_dicts_but_keep_1_and_true_apart():
    assert {Context({"subset": "train"}): 1}[Context({"subset": "train"})] == 1
    assert Context({"a": 1}) != {"a": True} and Context({"a": 1}) != Context({"a": 1.0})
    assert dict(Context({"b": [1, 2]})) == {"b": [1, 2]}


def test_a_missing_sequence_is_none_as_in_aim(repo_path, run_hash):
    run = Run(run_hash, repo=repo_path, read_only=True)
    assert run.get_metric("loss", {"subset": "val"}) is None
    assert run.get_metric("nope") is None


def test_dataframe_has_aims_columns_or_names_the_missing_extra(repo_path, run_hash):
    metric = Run(run_hash, repo=repo_path, read_only=True).get_metric("loss", {"subset": "train"})
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(MissingExtraError, match="pandas"):
            metric.dataframe()
        return
    frame = metric.dataframe(include_name=True, include_context=True, include_run=True)
    assert list(frame.columns)[:4] == ["step", "value", "epoch", "time"]
    assert frame["metric.context.subset"].tolist() == ["train"] * 10
    assert metric.dataframe(only_last=True)["value"].tolist() == [9.0]
