"""aim.xgboost: real XGBoost trainings (train, sklearn and cv APIs) recorded in a run, read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xgboost as xgb

from aim import Run
from aim.frameworks.xgboost import model_params
from aim.xgboost import AimCallback

ROUNDS = 5


def _data(seed: int = 0, rows: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    y = 2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.1, size=rows)
    return x, y


def _user_metrics(run: Run) -> set[tuple[str, str]]:
    """(name, data_name) of each metric; every context is exactly {"data_name": ...}."""
    metrics = [(name, ctx) for name, ctx, _run in run.iter_metrics_info() if not name.startswith("__system__")]
    assert all(set(ctx) == {"data_name"} for _, ctx in metrics), metrics
    return {(name, ctx["data_name"]) for name, ctx in metrics}


def test_train_api_records_params_and_each_rounds_metrics_per_data_set(repo_path):
    x, y = _data()
    dtrain, dval = xgb.DMatrix(x[:150], label=y[:150]), xgb.DMatrix(x[150:], label=y[150:])
    cb = AimCallback(repo=str(repo_path), experiment="xgb-exp", run_name="trees")
    history: dict = {}
    params = {"max_depth": 3, "eta": 0.2, "subsample": 0.9, "objective": "reg:squarederror",
              "eval_metric": ["rmse", "mae"], "seed": 7}
    xgb.train(params, dtrain, ROUNDS, evals=[(dtrain, "train"), (dval, "eval")], evals_result=history,
              verbose_eval=False, callbacks=[cb])

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert (run.experiment, run.name) == ("xgb-exp", "trees")
    hp = run["hparams"]
    assert hp["max_depth"] == 3 and hp["eta"] == 0.2 and hp["subsample"] == 0.9 and hp["seed"] == 7
    assert hp["objective"] == "reg:squarederror" and hp["booster"] == "gbtree"
    assert hp["num_feature"] == 5
    assert hp["eval_metric"] == ["rmse", "mae"]
    # the data set's name as given in evals, in the context Aim's LightGBM callback uses for it
    assert _user_metrics(run) == {("rmse", "train"), ("rmse", "eval"), ("mae", "train"), ("mae", "eval")}
    for data in ("train", "eval"):
        for metric in ("rmse", "mae"):
            seq = run.get_metric(metric, {"data_name": data})
            assert list(seq.steps) == list(range(ROUNDS))
            assert list(seq.values) == pytest.approx(history[data][metric])
    rmse = list(run.get_metric("rmse", {"data_name": "train"}).values)
    assert rmse[-1] < rmse[0]  # it did learn


def test_sklearn_api_with_eval_set(repo_path):
    x, y = _data(1)
    labels = (y > 0).astype(int)
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None, capture_terminal_logs=False)
    model = xgb.XGBClassifier(n_estimators=ROUNDS, max_depth=2, learning_rate=0.3, callbacks=[cb])
    model.fit(x[:150], labels[:150], eval_set=[(x[:150], labels[:150]), (x[150:], labels[150:])],
              verbose=False)

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    hp = run["hparams"]
    assert hp["max_depth"] == 2 and hp["eta"] == 0.3 and hp["objective"] == "binary:logistic"
    # the sklearn API names its eval sets validation_0, validation_1: kept as they are
    assert _user_metrics(run) == {("logloss", "validation_0"), ("logloss", "validation_1")}
    for data in ("validation_0", "validation_1"):
        seq = run.get_metric("logloss", {"data_name": data})
        assert list(seq.steps) == list(range(ROUNDS))
        assert list(seq.values) == pytest.approx(model.evals_result()[data]["logloss"])


def test_cv_tracks_means_and_std_over_folds(repo_path):
    x, y = _data(2)
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None)
    frame = xgb.cv({"max_depth": 2, "eta": 0.5}, xgb.DMatrix(x, label=y), num_boost_round=3, nfold=3,
                   seed=0, callbacks=[cb], as_pandas=False)

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert run["hparams"]["max_depth"] == 2
    # xgb.cv's own names: frame["test-rmse-mean"] is rmse-mean in {"data_name": "test"}
    assert _user_metrics(run) == {(f"rmse-{stat}", data) for stat in ("mean", "std")
                                  for data in ("train", "test")}
    for data in ("train", "test"):
        for stat in ("mean", "std"):
            seq = run.get_metric(f"rmse-{stat}", {"data_name": data})
            assert list(seq.steps) == [0, 1, 2]
            assert list(seq.values) == pytest.approx(frame[f"{data}-rmse-{stat}"])


def test_a_reused_callback_continues_its_run_by_hash(repo_path):
    x, y = _data(3)
    dtrain = xgb.DMatrix(x, label=y)
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None)
    booster = xgb.train({"max_depth": 2}, dtrain, 2, evals=[(dtrain, "train")], verbose_eval=False,
                        callbacks=[cb])
    first = cb.run_hash
    xgb.train({"max_depth": 2}, dtrain, 2, evals=[(dtrain, "train")], verbose_eval=False,
              callbacks=[cb], xgb_model=booster)  # continued training: rounds 2 and 3
    assert cb.run_hash == first
    run = Run(first, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert list(run.get_metric("rmse", {"data_name": "train"}).steps) == [0, 1, 2, 3]


def test_data_sets_are_never_merged_under_one_name(repo_path):
    # "eval" and "valid" both mean validation, yet are two data sets: two sequences (an alias
    # map onto one "val" subset would write one over the other at every round).
    x, y = _data(4)
    dtrain = xgb.DMatrix(x[:100], label=y[:100])
    sets = [(xgb.DMatrix(x[100:150], label=y[100:150]), "eval"), (xgb.DMatrix(x[150:], label=y[150:]), "valid")]
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None, capture_terminal_logs=False)
    history: dict = {}
    xgb.train({"max_depth": 2}, dtrain, 3, evals=sets, evals_result=history, verbose_eval=False, callbacks=[cb])
    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert _user_metrics(run) == {("rmse", "eval"), ("rmse", "valid")}
    for data in ("eval", "valid"):
        assert list(run.get_metric("rmse", {"data_name": data}).values) == pytest.approx(history[data]["rmse"])


def test_config_values_come_back_as_numbers():
    config = {"learner": {
        "learner_train_param": {"booster": "gbtree", "objective": "binary:logistic"},
        "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "3"}},
        "gradient_booster": {"name": "gbtree",
                             "gbtree_model_param": {"num_trees": "9", "num_parallel_tree": "1"},
                             "tree_train_param": {"eta": "0.100000001", "max_depth": "6",
                                                  "sparse_threshold": "0.20000000000000001"},
                             "updater": [{"name": "hist", "hist_train_param": {
                                 "max_cached_hist_node": "18446744073709551615"}}]},
        "learner_model_param": {"num_feature": "4", "num_class": "0", "base_score": "[5E-1]"},
        "generic_param": {"seed": "0", "device": "cpu", "nthread": "0"},
        "metrics": [{"name": "auc"}],
    }}
    assert model_params(json.loads(json.dumps(config))) == {
        "booster": "gbtree", "objective": "binary:logistic", "scale_pos_weight": 3, "eta": 0.1,
        "max_depth": 6, "sparse_threshold": 0.2, "num_parallel_tree": 1, "num_feature": 4,
        "num_class": 0, "eval_metric": ["auc"], "seed": 0, "device": "cpu",
    }


def test_missing_xgboost_raises_missing_extra_naming_it():
    code = (
        "import sys\n"
        "sys.modules['xgboost'] = None\n"
        "import aim\n"
        "from aim.errors import MissingExtraError\n"
        "try:\n"
        "    import aim.xgboost\n"
        "except MissingExtraError as exc:\n"
        "    print('HINT', exc.hint)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "HINT pip install 'aim[xgboost]'" in proc.stdout
