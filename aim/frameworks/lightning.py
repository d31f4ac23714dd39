"""PyTorch Lightning: ``AimLogger``, a Lightning ``Logger`` that writes to an aim ``Run``.

Imported as ``from aim.pytorch_lightning import AimLogger`` (Aim's path)::

    trainer = Trainer(logger=AimLogger(experiment="mnist"))

Metrics go to ``run.track`` at the trainer's step, with Lightning's ``epoch`` as the epoch and
the train/val/test subset, read from the name (``train_loss``, ``loss/val``), as the context.
Hyperparameters (``save_hyperparameters()``) are stored under the param ``hparams``. The run
closes when the trainer finalizes the logger (``finished``, or ``failed`` when training
raised); a later ``trainer.test()`` or second ``fit`` reopens the same run by its hash.
"""

from __future__ import annotations

import copy
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from aim.core import events as ev
from aim.errors import MissingExtraError
from aim.frameworks.base import RunHolder, as_number, require, split_subset, storable
from aim.sdk.run import Run


def _import(module: str) -> Any:
    return require(module, integration="aim.pytorch_lightning", extra="lightning", package="lightning")


# The unified ``lightning`` package first, the standalone ``pytorch_lightning`` otherwise. A
# logger of either works with either trainer: Lightning only calls its methods.
try:
    _logger_module = _import("lightning.pytorch.loggers.logger")
    _rank_zero_only = _import("lightning.pytorch.utilities").rank_zero_only
except MissingExtraError:
    _logger_module = _import("pytorch_lightning.loggers.logger")
    _rank_zero_only = _import("pytorch_lightning.utilities").rank_zero_only

Logger = _logger_module.Logger
rank_zero_experiment = _logger_module.rank_zero_experiment

# Lightning's statuses (``finalize(status)``) -> a run's end status.
_STATUSES = {
    "success": ev.STATUS_FINISHED,
    "finished": ev.STATUS_FINISHED,
    "failed": ev.STATUS_FAILED,
    "terminated": ev.STATUS_TERMINATED,
}


class AimLogger(Logger):
    """A Lightning logger writing to an aim run (the arguments are Aim's ``AimLogger``'s).

    ``train_metric_prefix``, ``val_metric_prefix`` and ``test_metric_prefix`` name the
    subset of a metric logged as ``train_loss``: it is tracked as ``loss`` with context
    ``{"subset": "train"}``. Names without one of these prefixes are read with
    ``split_subset`` (``loss/val``, ``loss_train``, ``valid_loss``); a name with no subset
    marker is tracked as it is, without context. ``run_hash`` continues an existing run.
    System usage and terminal output are captured by default, as by ``Run``.
    """

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        train_metric_prefix: str | None = "train_",
        val_metric_prefix: str | None = "val_",
        test_metric_prefix: str | None = "test_",
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
        self._prefixes = [(p, subset) for p, subset in ((train_metric_prefix, "train"),
                                                         (val_metric_prefix, "val"),
                                                         (test_metric_prefix, "test")) if p]

    # --- what Lightning reads --------------------------------------------------------------------
    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The aim ``Run`` (created on first use, reopened by hash after ``finalize``)."""
        return self._holder.run

    @property
    def run_hash(self) -> str | None:
        """The run's hash once the run was created (or the one given)."""
        return self._holder.run_hash

    @property
    def name(self) -> str:
        """The experiment's name."""
        if self._holder.experiment_name:
            return self._holder.experiment_name
        if self._holder.is_open:
            return self._holder.run.experiment
        return "default"

    @property
    def version(self) -> str:
        """The run's hash (creates the run when it does not exist yet)."""
        if self._holder.run_hash is not None:
            return self._holder.run_hash
        return self.experiment.hash

    @property
    def save_dir(self) -> None:
        """None: aim writes to its repository; checkpoints go to the trainer's default_root_dir."""
        return None

    @property
    def root_dir(self) -> None:
        return None

    # --- logging ---------------------------------------------------------------------------------
    @_rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Store ``params`` (dict, ``Namespace``, ``AttributeDict``, OmegaConf config) under the
        param ``hparams``, merged over what earlier calls stored."""
        new = storable(_as_dict(params))
        run = self.experiment
        current = run.get("hparams")
        run["hparams"] = {**current, **new} if isinstance(current, dict) else new

    @_rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Track each numeric metric at ``step``; ``epoch`` in ``metrics`` is the epoch."""
        metrics = dict(metrics)
        epoch_value = as_number(metrics.pop("epoch", None))
        epoch = None if epoch_value is None else int(epoch_value)
        for key, value in metrics.items():
            name, context = self._split(key)
            self._holder.track(value, name, step=step, epoch=epoch, context=context)

    def _split(self, key: str) -> tuple[str, dict[str, Any]]:
        for prefix, subset in self._prefixes:
            if key.startswith(prefix) and len(key) > len(prefix):
                return key[len(prefix):], {"subset": subset}
        return split_subset(key)

    @_rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Not recorded (aim stores no model graphs)."""

    @_rank_zero_only
    def save(self) -> None:
        """Nothing to do: the run writes its events in the background."""

    @_rank_zero_only
    def finalize(self, status: str) -> None:
        """Close the run: ``finished`` after ``success``, ``failed`` after ``failed``. A later
        use (``trainer.test()`` after ``fit``) reopens the same run by its hash."""
        self._holder.close(_STATUSES.get(status, ev.STATUS_FINISHED))

    # --- pickling (spawned processes, deepcopies): the open run stays behind, its hash travels --
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        holder = copy.copy(self._holder)
        holder._run = None
        state["_holder"] = holder
        return state


def _as_dict(params: Any) -> dict[str, Any]:
    if isinstance(params, Namespace):
        return vars(params)
    if type(params).__module__.split(".")[0] == "omegaconf":
        from omegaconf import OmegaConf

        params = OmegaConf.to_container(params, resolve=True)
    if isinstance(params, Mapping):
        return {str(k): v for k, v in params.items()}
    return dict(params)
