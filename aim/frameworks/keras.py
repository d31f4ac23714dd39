"""Keras: ``AimCallback``, a ``keras.callbacks.Callback`` that records a ``fit`` (and a later
``evaluate``) in one run (``from aim.keras import AimCallback``).

Importing this module imports ``keras`` (with the backend you chose: ``KERAS_BACKEND`` is read,
never set, so set it before importing either). ``tf.keras`` of TensorFlow 2 works as well when
``keras`` resolves to it.

What is recorded:

* ``on_train_begin``: the run is opened (created, or reopened by hash for a second ``fit``);
  ``run["hparams"]`` gets ``fit``'s params (``epochs``, ``steps``), the optimizer's config
  under ``optimizer`` and its current ``learning_rate``.
* ``on_epoch_end``: every numeric log with ``epoch=epoch``, as Aim's callback does: a name
  starting with ``val_`` is tracked without it in context ``{"subset": "val"}`` (``val_loss``
  is ``loss`` in val), any other name as it is in ``{"subset": "train"}``. The step is left to
  the run, as in Aim (0, 1, 2 ... per metric: the epoch, for one ``fit``; a second ``fit`` on
  the same callback continues after the first instead of writing over it). The optimizer's
  learning rate is tracked as ``lr`` (train), as Aim does, so schedules show.
* ``on_train_batch_end`` (only with ``log_batches=True``): the batch logs (Keras' running
  averages over the epoch) at a running batch step, with the epoch, in context
  ``{"subset": "train", "scope": "batch"}``, so they never mix with the per-epoch values.
* ``on_train_end``: the run is closed (``finished``).
* ``evaluate(..., callbacks=[cb])`` outside ``fit`` (Aim tracks no ``evaluate``): its results
  are tracked in context ``{"subset": "test"}``, with the last epoch trained as the epoch
  (none before any), at the next step of each metric, and the run is closed again. The
  validation pass that ``fit`` runs each epoch is not tracked twice: its values come with the
  epoch's ``val_`` logs.

A ``fit`` that raises leaves the run open; aim closes it at exit (``failed`` after an uncaught
exception), or call ``cb.close()`` (until then an ``evaluate`` with this callback is taken for
``fit``'s validation pass and not tracked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.errors import require
from aim.frameworks.base import HoldsRun, RunHolder, as_number, storable

keras = require("keras", integration="aim.keras", extra="keras")
if TYPE_CHECKING:  # the type checker sees the base class; at run time require() found it
    from keras.callbacks import Callback as _Base
else:
    _Base = keras.callbacks.Callback

TRAIN = {"subset": "train"}
VAL = {"subset": "val"}
TEST = {"subset": "test"}
BATCH_CONTEXT = {"subset": "train", "scope": "batch"}
VAL_PREFIX = "val_"  # Keras' name for fit's validation logs, the one prefix Aim reads


def _tidy(value: Any) -> Any:
    """Floats that are exactly float32 values (Keras keeps hyperparameters in float32
    variables: ``0.01`` reads back as ``0.009999999776482582``) get their shortest float32
    spelling; containers are walked, anything else is left as it is."""
    if isinstance(value, float):
        try:
            import numpy  # Keras' own dependency

            single = numpy.float32(value)
            return float(str(single)) if float(single) == value else value
        except Exception:
            return value
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def _learning_rate(optimizer: Any) -> float | int | None:
    """The optimizer's current learning rate as a number (a schedule evaluated), or None."""
    try:
        lr = optimizer.learning_rate
    except Exception:
        return None
    if callable(lr) and hasattr(optimizer, "iterations"):  # a schedule object (tf.keras)
        try:
            lr = lr(optimizer.iterations)
        except Exception:
            return None
    number = as_number(lr)
    if number is None:
        try:
            number = as_number(keras.ops.convert_to_numpy(lr))
        except Exception:
            return None
    return _tidy(number)


class AimCallback(HoldsRun, _Base):
    """Track a Keras ``fit`` (and ``evaluate``) in an aim run (see the module docstring)."""

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        system_tracking_interval: float | None = 10.0,
        log_system_params: bool = True,
        capture_terminal_logs: bool = True,
        run_name: str | None = None,
        run_hash: str | None = None,
        log_batches: bool = False,
        *,
        experiment_name: str | None = None,
    ) -> None:
        super().__init__()
        if experiment_name is not None:
            # Aim 2's name, which Aim's own examples/tensorflow_keras_track.py still passes
            # (Aim 3's callback refuses it): the same thing as experiment=.
            if experiment is not None and experiment != experiment_name:
                raise TypeError("experiment= and experiment_name= name the same thing: give one")
            experiment = experiment_name
        self._holder = RunHolder(
            repo=repo, experiment=experiment, run_name=run_name, run_hash=run_hash,
            system_tracking_interval=system_tracking_interval, log_system_params=log_system_params,
            capture_terminal_logs=capture_terminal_logs,
        )
        self.log_batches = log_batches
        self._in_fit = False
        self._epoch: int | None = None  # the epoch in progress, or the last one trained

    # --- the run ----------------------------------------------------------------------------
    def close(self, status: str = ev.STATUS_FINISHED) -> None:
        """Close the run now (``fit``'s end does it; this is for a ``fit`` that raised, after
        which a later ``evaluate`` is tracked again)."""
        self._in_fit = False
        super().close(status)

    # --- fit ----------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = True
        hparams: dict[str, Any] = {k: v for k, v in (self.params or {}).items() if k != "verbose"}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            try:
                hparams["optimizer"] = _tidy(storable(optimizer.get_config()))
            except Exception:
                hparams["optimizer"] = type(optimizer).__name__
            lr = _learning_rate(optimizer)
            if lr is not None:
                hparams["learning_rate"] = lr
        self._holder.set_params("hparams", hparams)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.log_batches:
            return
        for name, value in (logs or {}).items():
            self._holder.track(value, name, epoch=self._epoch, context=BATCH_CONTEXT)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        for key, value in (logs or {}).items():
            if key.startswith(VAL_PREFIX) and len(key) > len(VAL_PREFIX):
                self._holder.track(value, key[len(VAL_PREFIX):], epoch=epoch, context=VAL)
            else:
                self._holder.track(value, key, epoch=epoch, context=TRAIN)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            lr = _learning_rate(optimizer)
            if lr is not None:
                self._holder.track(lr, "lr", epoch=epoch, context=TRAIN)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = False
        self._holder.close(ev.STATUS_FINISHED)

    # --- evaluate -------------------------------------------------------------------------------
    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_fit:  # fit's validation pass: tracked with the epoch as val_*
            return
        for name, value in (logs or {}).items():
            self._holder.track(value, name, epoch=self._epoch, context=TEST)
        self._holder.close(ev.STATUS_FINISHED)


# Aim's older name for the callback, kept by Aim for backward compatibility.
AimTracker = AimCallback
