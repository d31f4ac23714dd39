"""PyTorch Lightning: ``AimLogger``, a Lightning ``Logger`` that writes to an aim ``Run``.

Imported as ``from aim.pytorch_lightning import AimLogger`` (Aim's path)::

    trainer = Trainer(logger=AimLogger(experiment="mnist"))

Metrics go to ``run.track`` at the trainer's step, with Lightning's ``epoch`` as the epoch and
the context read from the name as Aim's logger reads it: ``context_prefixes`` (by default
``{"subset": {"train": "train_", "val": "val_", "test": "test_"}}``: ``train_loss`` is ``loss``
in ``{"subset": "train"}``) and ``context_postfixes``; a name that matches none is tracked as
it is, without context.
Hyperparameters (``save_hyperparameters()``) are stored under the param ``hparams``. The run
closes when the trainer finalizes the logger (``finished``, or ``failed`` when training
raised); a later ``trainer.test()`` or second ``fit`` reopens the same run by its hash.
"""

from __future__ import annotations

import copy
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.errors import MissingExtraError, require
from aim.frameworks.base import RunHolder, as_number, storable
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

if TYPE_CHECKING:  # the type checker sees the base class; at run time one of the two was found
    from lightning.pytorch.loggers.logger import Logger
else:
    Logger = _logger_module.Logger
rank_zero_experiment = _logger_module.rank_zero_experiment

# Aim's default: the subset of a metric from its name's prefix.
SUBSET_PREFIXES = {"train": "train_", "val": "val_", "test": "test_"}
_LEGACY = ("train_metric_prefix", "val_metric_prefix", "test_metric_prefix")

# Lightning's statuses (``finalize(status)``) -> a run's end status.
_STATUSES = {
    "success": ev.STATUS_FINISHED,
    "finished": ev.STATUS_FINISHED,
    "failed": ev.STATUS_FAILED,
    "terminated": ev.STATUS_TERMINATED,
}


class AimLogger(Logger):
    """A Lightning logger writing to an aim run (the arguments are Aim's ``AimLogger``'s).

    ``context_prefixes`` maps a context key to its values and the prefix that marks each:
    ``{"subset": {"train": "train_", "val": "val_", "test": "test_"}}`` (the default) tracks
    ``train_loss`` as ``loss`` in ``{"subset": "train"}``. ``context_postfixes`` does the same
    with the end of the name (``{"avg": {"macro": "_macro"}}``: ``f1_macro`` is ``f1`` in
    ``{"avg": "macro"}``). For each context key the first prefix (postfix) that matches is taken
    off; a name that matches none is tracked as it is, without context. ``context_prefixes={}``
    turns the default off. ``train_metric_prefix``, ``val_metric_prefix`` and
    ``test_metric_prefix`` are Aim's older way to set the three subset prefixes (None or ``""``
    drops one): deprecated as in Aim, and a ``ValueError`` with ``context_prefixes``.
    ``run_hash`` continues an existing run. System usage and terminal output are captured by
    default, as by ``Run``.

    Under DDP every rank logs into the job's one run (docs/distributed.md), its metrics with
    ``{"rank": k}`` in their context; ``ranks="zero"`` logs from global rank 0 only, as Aim's
    logger does.
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
        context_prefixes: Mapping[str, Mapping[str, str]] | None = None,
        context_postfixes: Mapping[str, Mapping[str, str]] | None = None,
        ranks: str = "all",
    ) -> None:
        super().__init__()
        if ranks not in ("all", "zero"):
            raise ValueError(f"ranks must be 'all' or 'zero', got {ranks!r}")
        self._ranks = ranks
        self._holder = RunHolder(
            repo=repo, experiment=experiment, run_name=run_name, run_hash=run_hash,
            system_tracking_interval=system_tracking_interval, log_system_params=log_system_params,
            capture_terminal_logs=capture_terminal_logs, ranks=ranks,
        )
        self._context_prefixes, self._context_postfixes = _contexts(
            train_metric_prefix, val_metric_prefix, test_metric_prefix, context_prefixes, context_postfixes)

    # --- what Lightning reads --------------------------------------------------------------------
    @property
    def experiment(self) -> Run:
        """The aim ``Run`` (created on first use, reopened by hash after ``finalize``); on a
        rank other than 0 with ``ranks="zero"``, Lightning's stand-in that records nothing."""
        if self._ranks == "zero":
            return self._rank_zero_run()
        return self._holder.run

    @rank_zero_experiment
    def _rank_zero_run(self) -> Run:
        return self._holder.run

    def _records_here(self) -> bool:
        """True on the ranks that log: every rank, or global rank 0 with ``ranks="zero"``."""
        return self._ranks == "all" or getattr(_rank_zero_only, "rank", 0) == 0

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
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Store ``params`` (dict, ``Namespace``, ``AttributeDict``, OmegaConf config) under the
        param ``hparams``, merged over what earlier calls stored."""
        if not self._records_here():
            return
        new = storable(_as_dict(params))
        run = self.experiment
        current = run.get("hparams")
        run["hparams"] = {**current, **new} if isinstance(current, dict) else new

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Track each numeric metric at ``step``; ``epoch`` in ``metrics`` is the epoch."""
        if not self._records_here():
            return
        metrics = dict(metrics)
        epoch_value = as_number(metrics.pop("epoch", None))
        epoch = None if epoch_value is None else int(epoch_value)
        for key, value in metrics.items():
            name, context = self.parse_context(key)
            self._holder.track(value, name, step=step, epoch=epoch, context=context)

    def parse_context(self, name: str) -> tuple[str, dict[str, Any]]:
        """``name`` as tracked (Aim's method): (the name less its prefixes and postfixes, the
        context they mark)."""
        return parse_context(name, self._context_prefixes, self._context_postfixes)

    @_rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Not recorded (aim stores no model graphs)."""

    @_rank_zero_only
    def save(self) -> None:
        """Nothing to do: the run writes its events in the background."""

    def finalize(self, status: str) -> None:
        """Close the run: ``finished`` after ``success``, ``failed`` after ``failed``. A later
        use (``trainer.test()`` after ``fit``) reopens the same run by its hash."""
        if self._records_here():
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


def _contexts(
    train_metric_prefix: str | None,
    val_metric_prefix: str | None,
    test_metric_prefix: str | None,
    context_prefixes: Mapping[str, Mapping[str, str]] | None,
    context_postfixes: Mapping[str, Mapping[str, str]] | None,
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The prefixes and postfixes to read contexts with, from ``AimLogger``'s arguments, by Aim's
    rules: the three subset prefixes apply while ``context_prefixes`` is left at its default."""
    legacy = dict(zip(SUBSET_PREFIXES, (train_metric_prefix, val_metric_prefix, test_metric_prefix)))
    for (subset, prefix), argument in zip(legacy.items(), _LEGACY):
        if prefix != SUBSET_PREFIXES[subset]:
            warnings.warn(f'The argument "{argument}" is deprecated. Consider using "context_prefixes" '
                          'instead.', DeprecationWarning, stacklevel=3)
    if context_prefixes is None or context_prefixes == {"subset": SUBSET_PREFIXES}:
        subsets = {subset: prefix for subset, prefix in legacy.items() if prefix}
        prefixes = {"subset": subsets} if subsets else {}
    elif legacy != SUBSET_PREFIXES:
        raise ValueError('Arguments "train_metric_prefix", "val_metric_prefix" and "test_metric_prefix" '
                         'cannot be used in conjunction with "context_prefixes".')
    else:
        prefixes = {str(key): dict(values) for key, values in context_prefixes.items()}
    postfixes = {str(key): dict(values) for key, values in (context_postfixes or {}).items()}
    return prefixes, postfixes


def parse_context(name: str, prefixes: Mapping[str, Mapping[str, str]],
                  postfixes: Mapping[str, Mapping[str, str]]) -> tuple[str, dict[str, Any]]:
    """Aim's ``AimLogger.parse_context``: for each context key in turn, the first of its
    prefixes that ``name`` starts with is taken off and its value set; then the same with
    postfixes at the end. A prefix (postfix) is only taken when some name is left."""
    context: dict[str, Any] = {}
    for key, values in prefixes.items():
        for value, prefix in values.items():
            if name.startswith(prefix) and len(name) > len(prefix):
                name = name[len(prefix):]
                context[key] = value
                break
    for key, values in postfixes.items():
        for value, postfix in values.items():
            if postfix and name.endswith(postfix) and len(name) > len(postfix):
                name = name[:-len(postfix)]
                context[key] = value
                break
    return name, context
