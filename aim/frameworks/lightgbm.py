"""LightGBM: ``AimCallback``, a LightGBM callback that records a training in one run
(``from aim.lightgbm import AimCallback``). Importing this module imports ``lightgbm``.

Works with ``lgb.train(..., valid_sets=[...], valid_names=[...], callbacks=[cb])``, ``lgb.cv``
and the sklearn API (``LGBMRegressor().fit(X, y, eval_set=[...], callbacks=[cb])``):

* the first iteration (``env.iteration == env.begin_iteration``): the run is opened and
  ``run["hparams"]`` gets the training's params (``env.params``, made storable; Aim stores none);
* every iteration, as Aim's callback does: each evaluation result under LightGBM's metric name
  (``binary_logloss``, ``l2``, ``auc``) in context ``{"data_name": ...}``, the data set's name
  as LightGBM gives it (``valid_names``: ``"train"``, ``"valid"``; the sklearn API's
  ``"training"``, ``"valid_1"``; ``valid_0`` ... when unnamed). ``lgb.cv`` tracks the mean over
  the folds as ``<metric>-mean`` and the standard deviation as ``<metric>-stdv`` (``lgb.cv``'s
  own spelling), in ``{"data_name": "valid"}`` (``"train"`` with ``eval_train_metric``). The
  step is left to the run, as Aim does: 0, 1, 2 ... per metric, the index in
  ``record_evaluation``'s lists, continued (never overwritten) when the callback, or a run
  continued by ``run_hash``, records a second training;
* the last iteration (``env.iteration == env.end_iteration - 1``): the run is closed
  (``finished``).

``before_tracking(env=env)`` and ``after_tracking(env=env)`` run around each iteration's
tracking, empty hooks for a subclass, as in Aim.

The callback runs before early stopping (``order`` 25: after LightGBM's own logging and
recording callbacks, 10 and 20, before ``early_stopping``'s 30), so the iteration that stops
the training is tracked too. A training that stops early never reaches its last iteration:
the run stays open until ``cb.close()``, or until the process exits (aim closes live runs at
exit, ``finished``, or ``failed`` after an uncaught exception).

A callback holds one run: give each training its own ``AimCallback``; reusing one continues
the same run by hash.
"""

from __future__ import annotations

from typing import Any

from aim.core import events as ev
from aim.errors import require
from aim.frameworks.base import HoldsRun, RunHolder

lightgbm = require("lightgbm", integration="aim.lightgbm", extra="lightgbm")

ORDER = 25  # after log_evaluation (10) and record_evaluation (20), before early_stopping (30)


class AimCallback(HoldsRun):
    """Track a LightGBM training in an aim run (see the module docstring)."""

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
        # An instance attribute: LightGBM gives any callback without one in its __dict__ an
        # order of its own (negative: before every built-in callback).
        self.order = ORDER
        self.before_iteration = False
        self._holder = RunHolder(
            repo=repo, experiment=experiment, run_name=run_name, run_hash=run_hash,
            system_tracking_interval=system_tracking_interval, log_system_params=log_system_params,
            capture_terminal_logs=capture_terminal_logs,
        )

    def before_tracking(self, **kwargs: Any) -> None:
        """Runs before each iteration's values are tracked (Aim's hook; ``env=`` the
        ``CallbackEnv``)."""

    def after_tracking(self, **kwargs: Any) -> None:
        """Runs after each iteration's values are tracked (Aim's hook)."""

    def __call__(self, env: Any) -> None:
        if env.iteration == env.begin_iteration:
            self._holder.set_params("hparams", env.params or {})
        self.before_tracking(env=env)
        for item in env.evaluation_result_list or ():
            data_name, metric_name, value = str(item[0]), str(item[1]), item[2]
            if data_name == "cv_agg" and " " in metric_name:  # lgb.cv before 4.7: "valid l2"
                data_name, metric_name = metric_name.split(" ", 1)
            context = {"data_name": data_name}
            std = item[4] if len(item) > 4 else None  # lgb.cv: the std over the folds
            if std is None:
                self._holder.track(value, metric_name, context=context)
            else:
                self._holder.track(value, f"{metric_name}-mean", context=context)
                self._holder.track(std, f"{metric_name}-stdv", context=context)
        self.after_tracking(env=env)
        if env.iteration == env.end_iteration - 1:
            self._holder.close(ev.STATUS_FINISHED)
