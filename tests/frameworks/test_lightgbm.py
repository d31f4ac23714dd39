"""aim.lightgbm: real LightGBM trainings (train, sklearn and cv APIs, early stopping) recorded in a
run, read back by hash."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pytest

from aim import Run
from aim.frameworks.lightgbm import ORDER
from aim.lightgbm import AimCallback

ROUNDS = 5


def _data(seed: int = 0, rows: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.3, size=rows) > 0).astype(int)
    return x, y


def _user_metrics(run: Run) -> set[tuple[str, str]]:
    """(name, data_name) of each metric; every context is exactly Aim's {"data_name": ...}."""
    metrics = [(name, ctx) for name, ctx, _run in run.iter_metrics_info() if not name.startswith("__system__")]
    assert all(set(ctx) == {"data_name"} for _, ctx in metrics), metrics
    return {(name, ctx["data_name"]) for name, ctx in metrics}


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))


def test_train_api_records_params_and_each_iterations_metrics_per_data_set(repo_path):
    x, y = _data()
    dtrain = lgb.Dataset(x[:150], y[:150])
    dval = lgb.Dataset(x[150:], y[150:], reference=dtrain)
    cb = AimCallback(repo=str(repo_path), experiment="lgb-exp", run_name="leaves")
    history: dict = {}
    params = {"objective": "binary", "metric": ["binary_logloss", "auc"], "num_leaves": 7,
              "learning_rate": 0.1, "min_data_in_leaf": 5, "verbose": -1}
    lgb.train(params, dtrain, ROUNDS, valid_sets=[dtrain, dval], valid_names=["train", "valid"],
              callbacks=[cb, lgb.record_evaluation(history)])

    assert cb.order == ORDER == 25
    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert (run.experiment, run.name) == ("lgb-exp", "leaves")
    hp = run["hparams"]
    assert hp["num_leaves"] == 7 and hp["learning_rate"] == 0.1 and hp["objective"] == "binary"
    assert hp["metric"] == ["binary_logloss", "auc"]
    # Aim's shape: LightGBM's metric names, the data set's name as given in {"data_name": ...}
    assert _user_metrics(run) == {("binary_logloss", "train"), ("binary_logloss", "valid"),
                                  ("auc", "train"), ("auc", "valid")}
    for data in ("train", "valid"):
        for metric in ("binary_logloss", "auc"):
            seq = run.get_metric(metric, {"data_name": data})
            assert list(seq.steps) == list(range(ROUNDS))
            assert list(seq.values) == pytest.approx(history[data][metric])
    loss = list(run.get_metric("binary_logloss", {"data_name": "train"}).values)
    assert loss[-1] < loss[0]


def test_sklearn_api(repo_path):
    x, y = _data(1)
    xt, yt = x[:150], y[:150].astype(float)
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None, capture_terminal_logs=False)
    model = lgb.LGBMRegressor(n_estimators=ROUNDS, num_leaves=5, learning_rate=0.2, verbose=-1)
    if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM 4.7 deprecates eval_set
        model.fit(xt, yt, eval_X=(xt, x[150:]), eval_y=(yt, y[150:]), callbacks=[cb])
    else:
        model.fit(xt, yt, eval_set=[(xt, yt), (x[150:], y[150:])], callbacks=[cb])

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert run["hparams"]["num_leaves"] == 5 and run["hparams"]["learning_rate"] == 0.2
    # the sklearn API calls the training set "training" and the others valid_<i>: kept as they are
    assert _user_metrics(run) == {("l2", "training"), ("l2", "valid_1")}
    for data in ("training", "valid_1"):
        seq = run.get_metric("l2", {"data_name": data})
        assert list(seq.steps) == list(range(ROUNDS))
        assert list(seq.values) == pytest.approx(model.evals_result_[data]["l2"])


def test_cv_tracks_means_and_std_over_folds_by_lgb_cvs_names(repo_path):
    x, y = _data(2)
    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None)
    result = lgb.cv({"objective": "binary", "num_leaves": 5, "verbose": -1}, lgb.Dataset(x, y),
                    num_boost_round=3, nfold=3, stratified=False, seed=0, eval_train_metric=True,
                    callbacks=[cb])

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    # Aim's names for lgb.cv: result["valid binary_logloss-mean"] is binary_logloss-mean in valid
    assert _user_metrics(run) == {(f"binary_logloss-{stat}", data) for stat in ("mean", "stdv")
                                  for data in ("train", "valid")}
    for data in ("train", "valid"):
        for stat in ("mean", "stdv"):
            seq = run.get_metric(f"binary_logloss-{stat}", {"data_name": data})
            assert list(seq.steps) == [0, 1, 2]
            assert list(seq.values) == pytest.approx(result[f"{data} binary_logloss-{stat}"])


def _early_stopping_train(repo: str) -> tuple[AimCallback, dict]:
    """Train 50 rounds against a validation set of pure noise: early stopping ends it within a
    few rounds, so the callback never sees the last iteration."""
    x, y = _data(3)
    noise = np.random.default_rng(4).integers(0, 2, size=60)
    dtrain = lgb.Dataset(x[:140], y[:140])
    dval = lgb.Dataset(x[140:], noise, reference=dtrain)
    cb = AimCallback(repo=repo, system_tracking_interval=None)
    history: dict = {}
    lgb.train({"objective": "binary", "num_leaves": 15, "learning_rate": 0.5, "min_data_in_leaf": 3,
               "verbose": -1}, dtrain, 50, valid_sets=[dval], valid_names=["valid"],
              callbacks=[lgb.early_stopping(2, verbose=False), cb, lgb.record_evaluation(history)])
    return cb, history


def test_early_stopping_leaves_the_run_open_until_close(repo_path):
    cb, history = _early_stopping_train(str(repo_path))
    evaluated = len(history["valid"]["binary_logloss"])
    assert evaluated < 50  # early stopping did end it

    cb.run.flush()
    live = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert live.status == "running"
    # aim runs before early stopping: the iteration that stopped the training is tracked too
    assert list(live.get_metric("binary_logloss", {"data_name": "valid"}).steps) == list(range(evaluated))

    cb.close()
    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert list(run.get_metric("binary_logloss", {"data_name": "valid"}).values) == pytest.approx(
        history["valid"]["binary_logloss"])


def test_early_stopped_run_is_finished_at_process_exit(repo_path):
    code = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from tests.frameworks.test_lightgbm import _early_stopping_train\n"
        "cb, history = _early_stopping_train(sys.argv[2])\n"
        "print(cb.run_hash, len(history['valid']['binary_logloss']), cb.run.status)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code, root, str(repo_path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    run_hash, evaluated, status_at_exit = proc.stdout.split()
    assert status_at_exit == "running"  # still open when the script ended
    run = Run(run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert list(run.get_metric("binary_logloss", {"data_name": "valid"}).steps) == list(range(int(evaluated)))


def test_callback_order_against_lightgbms_own():
    # lgb.train gives a callback without an instance `order` a negative one: ours must stay 25,
    # between record_evaluation (20) and early_stopping (30)
    assert "order" in vars(AimCallback())
    assert lgb.record_evaluation({}).order < ORDER < lgb.early_stopping(1).order


def test_a_reused_callback_appends_a_second_training_and_aims_hooks_run(repo_path):
    # Steps are the run's (as in Aim): a second training on the same callback continues the
    # sequence after the first instead of writing over it. Two data sets whose names Aim's
    # context keeps apart ("valid", "eval") stay apart.
    x, y = _data(5)
    seen: list[tuple[str, int]] = []

    class Hooked(AimCallback):
        def before_tracking(self, **kwargs):
            seen.append(("before", kwargs["env"].iteration))

        def after_tracking(self, **kwargs):
            seen.append(("after", kwargs["env"].iteration))

    cb = Hooked(repo=str(repo_path), system_tracking_interval=None, capture_terminal_logs=False)
    dtrain = lgb.Dataset(x[:150], y[:150])
    sets = [lgb.Dataset(x[150:175], y[150:175], reference=dtrain),
            lgb.Dataset(x[175:], y[175:], reference=dtrain)]
    params = {"objective": "binary", "num_leaves": 5, "verbose": -1}
    histories: list[dict] = [{}, {}]
    for history in histories:
        lgb.train(params, dtrain, 2, valid_sets=sets, valid_names=["valid", "eval"],
                  callbacks=[cb, lgb.record_evaluation(history)])
    assert seen == [("before", 0), ("after", 0), ("before", 1), ("after", 1)] * 2

    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished"
    assert _user_metrics(run) == {("binary_logloss", "valid"), ("binary_logloss", "eval")}
    for data in ("valid", "eval"):
        seq = run.get_metric("binary_logloss", {"data_name": data})
        assert list(seq.steps) == [0, 1, 2, 3]
        assert list(seq.values) == pytest.approx(histories[0][data]["binary_logloss"]
                                                 + histories[1][data]["binary_logloss"])


def test_missing_lightgbm_raises_missing_extra_naming_it():
    proc = _python(
        "import sys\n"
        "sys.modules['lightgbm'] = None\n"
        "import aim\n"
        "from aim.errors import MissingExtraError\n"
        "try:\n"
        "    import aim.lightgbm\n"
        "except MissingExtraError as exc:\n"
        "    print('HINT', exc.hint)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "HINT pip install 'aim[lightgbm]'" in proc.stdout


def test_lightgbm_before_4_7_tuples_give_the_same_shapes(repo_path):
    # LightGBM < 4.7 hands callbacks plain tuples; lgb.cv's name the data set inside the metric
    # ("cv_agg", "valid l2", mean, higher_better, std). Aim's own callback reads only these.
    from types import SimpleNamespace

    cb = AimCallback(repo=str(repo_path), system_tracking_interval=None, capture_terminal_logs=False)
    for i in range(2):
        cb(SimpleNamespace(iteration=i, begin_iteration=0, end_iteration=2, params={"num_leaves": 3},
                           evaluation_result_list=[("training", "l2", 0.5 - i / 10, False),
                                                   ("cv_agg", "valid l2", 0.6 - i / 10, False, 0.01)]))
    run = Run(cb.run_hash, repo=str(repo_path), read_only=True)
    assert run.status == "finished" and run["hparams"] == {"num_leaves": 3}
    assert _user_metrics(run) == {("l2", "training"), ("l2-mean", "valid"), ("l2-stdv", "valid")}
    assert run.get_metric("l2-mean", {"data_name": "valid"}).values == pytest.approx([0.6, 0.5])
    assert run.get_metric("l2-stdv", {"data_name": "valid"}).steps == [0, 1]
