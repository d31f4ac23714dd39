"""LightGBM: ``AimCallback``, a LightGBM callback that records a training in one run
(``from aim.lightgbm import AimCallback``). Importing this module imports ``lightgbm``.

Works with ``lgb.train(..., valid_sets=[...], valid_names=[...], callbacks=[cb])``, ``lgb.cv``
and the sklearn API (``LGBMRegressor().fit(X, y, eval_set=[...], callbacks=[cb])``):

* the first iteration (``env.iteration == env.begin_iteration``): the run is opened and
  ``run["hparams"]`` gets the training's params (``env.params``, made storable);
* every iteration: each evaluation result at ``step=env.iteration``, in context
  ``{"subset": ...}`` from the data set's name: ``train`` and ``training`` (the sklearn API's
  name for the training set) are ``train``; ``valid``, ``validation``, ``val`` and ``eval``
  are ``val``; ``test`` is ``test``; any other name (``valid_0``) is kept as it is.
  ``lgb.cv``'s standard deviation over folds is tracked as ``<metric>_std``;
* the last iteration (``env.iteration == env.end_iteration - 1``): the run is closed
  (``finished``).

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
from aim.frameworks.base import HoldsRun, RunHolder, require, subset_of

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

    def __call__(self, env: Any) -> None:
        if env.iteration == env.begin_iteration:
            self._holder.set_params("hparams", env.params or {})
        for item in env.evaluation_result_list or ():
            data_name, metric_name, value = str(item[0]), str(item[1]), item[2]
            if data_name == "cv_agg" and " " in metric_name:  # lgb.cv before 4.7: "valid l2"
                data_name, metric_name = metric_name.split(" ", 1)
            context = {"subset": subset_of(data_name)}
            self._holder.track(value, metric_name, step=env.iteration, context=context)
            std = item[4] if len(item) > 4 else None  # lgb.cv: the std over the folds
            if std is not None:
                self._holder.track(std, f"{metric_name}_std", step=env.iteration, context=context)
        if env.iteration == env.end_iteration - 1:
            self._holder.close(ev.STATUS_FINISHED)
