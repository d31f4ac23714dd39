"""XGBoost: ``AimCallback``, an ``xgboost.callback.TrainingCallback`` that records a training in
one run (``from aim.xgboost import AimCallback``). Importing this module imports ``xgboost``.

Works with ``xgb.train(..., evals=[...], callbacks=[cb])``, ``xgb.cv(..., callbacks=[cb])``
and the sklearn API (``XGBRegressor(callbacks=[cb]).fit(X, y, eval_set=[...])``):

* ``before_training``: the run is opened; ``run["hparams"]`` gets the parameters that shape the
  model, read from the booster's config (``save_config()``) with numbers as numbers:
  ``booster``, ``objective`` (and its own params such as ``scale_pos_weight``), the booster's
  train params (``eta``, ``max_depth``, ``subsample``, ``tree_method`` ...), ``num_feature``,
  ``num_class``, ``eval_metric``, ``seed`` and ``device``.
* ``after_iteration``: the last value of every metric of every evaluated data set, at the
  boosting round as ``step`` (``epoch``, counted on from the rounds a model continued with
  ``xgb_model=`` already had, so a continued training never writes over its start), in context
  ``{"data_name": ...}``: the data set's name as given in ``evals`` (``"train"``, ``"eval"``;
  the sklearn API's ``"validation_0"``, ``"validation_1"``; ``xgb.cv``'s ``"train"`` and
  ``"test"``), the context Aim's LightGBM callback gives the same thing (Aim's XGBoost callback
  tracks every data set in one context, every round at step 0: see docs/integrations.md).
  ``xgb.cv`` tracks the mean over folds as ``<metric>-mean`` and the standard deviation as
  ``<metric>-std``, as ``xgb.cv``'s own result spells them. Training is never stopped.
* ``after_training``: the run is closed (``finished``).

A callback holds one run: give each training its own ``AimCallback`` (XGBoost's advice for any
stateful callback); reusing one continues the same run by hash.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.errors import require
from aim.frameworks.base import HoldsRun, RunHolder

xgboost = require("xgboost", integration="aim.xgboost", extra="xgboost")
if TYPE_CHECKING:  # the type checker sees the base class; at run time require() found it
    from xgboost.callback import TrainingCallback as _Base
else:
    _Base = xgboost.callback.TrainingCallback

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _number(text: Any) -> Any:
    """XGBoost's config holds every value as text: numbers back as numbers. Floats printed from
    float32 (``0.200000003``, nine significant digits) get their shortest float32 spelling, so
    ``eta=0.2`` reads back as ``0.2``."""
    if not isinstance(text, str):
        return text
    if _INT.fullmatch(text):
        return int(text)  # beyond 64 bits (max_cached_hist_node), storable keeps it as text
    if _FLOAT.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            return text
        digits = len(re.sub(r"[eE].*$", "", text).replace(".", "").lstrip("+-0"))
        if digits == 9:
            import numpy  # xgboost's own dependency

            value = float(str(numpy.float32(value)))
        return value
    return text


def _train_params(node: Any, out: dict[str, Any]) -> None:
    """Collect the booster's ``*train_param`` sections (not the histogram's debug settings)."""
    if isinstance(node, list):
        for item in node:
            _train_params(item, out)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if isinstance(value, dict) and key.endswith("train_param") and key != "hist_train_param":
            out.update({k: _number(v) for k, v in value.items() if not isinstance(v, (dict, list))})
        elif isinstance(value, (dict, list)):
            _train_params(value, out)


def model_params(config: dict[str, Any]) -> dict[str, Any]:
    """The parameters a user sets or cares about, from ``json.loads(booster.save_config())``."""
    learner = config.get("learner", {})
    params: dict[str, Any] = {k: _number(v) for k, v in learner.get("learner_train_param", {}).items()}
    objective = learner.get("objective", {})
    if isinstance(objective, dict):
        if "name" in objective:
            params["objective"] = objective["name"]
        for key, value in objective.items():
            if key.endswith("_param") and isinstance(value, dict):
                params.update({k: _number(v) for k, v in value.items() if not isinstance(v, (dict, list))})
    booster = learner.get("gradient_booster", {})
    _train_params(booster, params)
    trees = booster.get("gbtree_model_param", {}) if isinstance(booster, dict) else {}
    if "num_parallel_tree" in trees:
        params["num_parallel_tree"] = _number(trees["num_parallel_tree"])
    model = learner.get("learner_model_param", {})
    params.update({k: _number(model[k]) for k in ("num_feature", "num_class", "num_target") if k in model})
    metrics = [m.get("name") for m in learner.get("metrics", []) if isinstance(m, dict)]
    if metrics:
        params["eval_metric"] = metrics
    generic = learner.get("generic_param", {})
    params.update({k: _number(generic[k]) for k in ("seed", "device") if k in generic})
    return params


def _booster_config(model: Any) -> dict[str, Any] | None:
    """The booster's config: ``model`` is a ``Booster``, or ``xgb.cv``'s pack of folds."""
    booster = model
    if not hasattr(booster, "save_config"):
        folds = getattr(model, "cvfolds", None)
        booster = getattr(folds[0], "bst", None) if folds else None
    try:
        return json.loads(booster.save_config())
    except Exception:
        return None


class AimCallback(HoldsRun, _Base):
    """Track an XGBoost training in an aim run (see the module docstring)."""

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        system_tracking_interval: float | None = 10.0,
        log_system_params: bool = True,
        capture_terminal_logs: bool = True,
        run_name: str | None = None,
        run_hash: str | None = None,
    ) -> None:
        super().__init__()
        self._holder = RunHolder(
            repo=repo, experiment=experiment, run_name=run_name, run_hash=run_hash,
            system_tracking_interval=system_tracking_interval, log_system_params=log_system_params,
            capture_terminal_logs=capture_terminal_logs,
        )
        self._first_round = 0  # rounds the model had before this training (xgb_model=)

    def before_training(self, model: Any) -> Any:
        try:
            self._first_round = int(model.num_boosted_rounds())
        except Exception:
            self._first_round = 0
        config = _booster_config(model)
        # Opens the run when training starts, with or without a config to read.
        self._holder.set_params("hparams", model_params(config) if config is not None else {})
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        step = self._first_round + epoch
        for data_name, metrics in (evals_log or {}).items():
            context = {"data_name": str(data_name)}
            for metric_name, log in metrics.items():
                if not log:
                    continue
                last = log[-1]
                if isinstance(last, tuple):  # xgb.cv: (mean, std) over the folds
                    self._holder.track(last[0], f"{metric_name}-mean", step=step, context=context)
                    self._holder.track(last[1], f"{metric_name}-std", step=step, context=context)
                else:
                    self._holder.track(last, metric_name, step=step, context=context)
        return False

    def after_training(self, model: Any) -> Any:
        self._holder.close(ev.STATUS_FINISHED)
        return model
