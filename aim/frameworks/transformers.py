"""Hugging Face Transformers: ``AimCallback``, a ``TrainerCallback`` that writes to an aim ``Run``.

Imported as ``from aim.hugging_face import AimCallback`` (Aim's path)::

    trainer = Trainer(..., args=TrainingArguments(..., report_to="none"),
                      callbacks=[AimCallback(experiment="bert")])

At the start of training the run stores the ``TrainingArguments`` (param ``hparams``) and the
model's config (param ``model``, with its number of parameters). Every ``Trainer.log`` is
tracked at ``state.global_step`` with epoch ``int(state.epoch)``; the subset comes from the
name as Transformers spells it: ``eval_loss`` is ``loss`` in ``{"subset": "eval"}``,
``test_loss`` (``metric_key_prefix="test"``) in ``{"subset": "test"}``, and names with no
prefix (``loss``, ``grad_norm``, ``learning_rate``) in ``{"subset": "train"}``. The run closes
(``finished``) at the end of training; ``trainer.evaluate()`` afterwards reopens it by its hash.

Transformers has no hook for a training that raised: such a run is closed by aim's own
exception and exit hooks (``failed`` after an uncaught exception, ``terminated`` on SIGINT or
SIGTERM), or stays ``running`` while the exception is caught and the process goes on.
"""

from __future__ import annotations

from typing import Any

from aim.core import events as ev
from aim.frameworks.base import HoldsRun, RunHolder, require, split_subset, storable

_transformers = require("transformers",
                        integration="aim.hugging_face", extra="hugging-face", package="transformers")

# Aim's subsets for Transformers: train, eval (the Trainer's evaluation) and test.
SUBSET_ALIASES = {"train": "train", "eval": "eval", "test": "test"}

# The summary logged at the end of training holds ``train_loss``: the mean loss over all steps,
# at the last step. As ``loss`` in train it would replace the last step's loss; it gets its
# own name instead.
_RENAMED = {"train_loss": ("mean_loss", {"subset": "train"})}


class AimCallback(HoldsRun, _transformers.TrainerCallback):
    """A ``TrainerCallback`` writing to one aim run (the arguments are Aim's ``AimCallback``'s).

    ``run_hash`` continues an existing run. System usage and terminal output are captured by
    default, as by ``Run``. Only the world's process zero writes.
    """

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
        self._holder = RunHolder(
            repo=repo, experiment=experiment, run_name=run_name, run_hash=run_hash,
            system_tracking_interval=system_tracking_interval, log_system_params=log_system_params,
            capture_terminal_logs=capture_terminal_logs,
        )

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        run = self._holder.run
        if args is not None:
            hparams = args.to_dict()
            for key in ("train_batch_size", "eval_batch_size"):  # per device x devices
                try:
                    hparams[key] = getattr(args, key)
                except Exception:
                    pass
            run["hparams"] = storable(hparams)
        config = getattr(model, "config", None)
        if config is not None and callable(getattr(config, "to_dict", None)):
            described = config.to_dict()
            num_parameters = getattr(model, "num_parameters", None)
            if callable(num_parameters):
                try:
                    described["num_parameters"] = num_parameters()
                except Exception:
                    pass
            run["model"] = storable(described)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        epoch = None if state.epoch is None else int(state.epoch)
        for key, value in logs.items():
            if key == "epoch":  # it is the epoch of every value, not a metric
                continue
            name, context = _RENAMED.get(key) or split_subset(key, default="train", aliases=SUBSET_ALIASES)
            self._holder.track(value, name, step=state.global_step, epoch=epoch, context=context)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._holder.close(ev.STATUS_FINISHED)
