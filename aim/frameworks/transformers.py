"""Hugging Face Transformers: ``AimCallback``, a ``TrainerCallback`` that writes to an aim ``Run``.

Imported as ``from aim.hugging_face import AimCallback`` (Aim's path)::

    trainer = Trainer(..., args=TrainingArguments(..., report_to="none"),
                      callbacks=[AimCallback(experiment="bert")])

At the start of training the run stores the ``TrainingArguments`` (param ``hparams``, key by
key, with ``train_batch_size`` and ``eval_batch_size``) and the model's config (param
``model``, with ``num_labels`` as Aim adds it and the number of parameters). Every
``Trainer.log`` is tracked at ``state.global_step`` with epoch ``int(state.epoch)``, named and
placed as Aim's callback does: a ``train_``, ``eval_`` or ``test_`` prefix is taken off the
name and becomes the context (``eval_loss`` is ``loss`` in ``{"subset": "eval"}``, the summary's
``train_loss``, the mean loss over the training, is ``loss`` in ``{"subset": "train"}``), any
other name is tracked as it is without context (the per-step ``loss``, ``grad_norm``,
``learning_rate``, and ``epoch`` itself, which keeps the fractional epoch). An evaluation of
one of several data sets (``eval_dataset={"a": ..., "b": ...}``: keys ``eval_a_loss``,
``eval_a_runtime``) adds Aim's ``sub_dataset``: ``loss`` in ``{"subset": "eval",
"sub_dataset": "a"}``; the data set's name is read from the ``<prefix>_runtime`` key
Transformers logs with every evaluation. The run closes (``finished``) at the end of training;
``trainer.evaluate()`` afterwards reopens it by its hash.

Transformers has no hook for a training that raised: such a run is closed by aim's own
exception and exit hooks (``failed`` after an uncaught exception, ``terminated`` on SIGINT or
SIGTERM), or stays ``running`` while the exception is caught and the process goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.errors import require
from aim.frameworks.base import HoldsRun, RunHolder, storable

_transformers = require("transformers",
                        integration="aim.hugging_face", extra="hugging-face", package="transformers")
if TYPE_CHECKING:  # the type checker sees the base class; at run time require() found it
    from transformers import TrainerCallback as _Base
else:
    _Base = _transformers.TrainerCallback

# The prefixes Aim's callback takes off a logged name as its subset.
PREFIXES = ("train_", "eval_", "test_")
# Transformers logs ``<metric_key_prefix>_runtime`` with every evaluation (and the training).
RUNTIME = "runtime"


def split_name(key: str, prefixes: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """A logged key as Aim's callback names it: ``eval_loss`` -> (``loss``, ``{"subset":
    "eval"}``); with ``eval_a_`` among ``prefixes`` (the ones this log's ``*_runtime`` keys
    show), ``eval_a_loss`` -> (``loss``, ``{"subset": "eval", "sub_dataset": "a"}``); a key
    with no prefix -> (the key, ``{}``)."""
    for prefix in PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            for longer in prefixes:
                if longer.startswith(prefix) and len(longer) > len(prefix) + 1 \
                        and key.startswith(longer) and len(key) > len(longer):
                    return key[len(longer):], {"subset": prefix[:-1], "sub_dataset": longer[len(prefix):-1]}
            return key[len(prefix):], {"subset": prefix[:-1]}
    return key, {}


class AimCallback(HoldsRun, _Base):
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
            self._holder.set_params("hparams", hparams)  # key by key, as Aim: the user's keys stay
        config = getattr(model, "config", None)
        if config is not None and callable(getattr(config, "to_dict", None)):
            described = config.to_dict()
            described["num_labels"] = getattr(model, "num_labels", None)
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
        # The prefixes of this log's evaluations, longest first: "eval_a_" of "eval_a_runtime".
        prefixes = tuple(sorted((k[:-len(RUNTIME)] for k in logs if k.endswith("_" + RUNTIME)),
                                key=len, reverse=True))
        for key, value in logs.items():
            name, context = split_name(key, prefixes)
            self._holder.track(value, name, step=state.global_step, epoch=epoch, context=context)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._holder.close(ev.STATUS_FINISHED)
