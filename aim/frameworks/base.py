"""What every framework integration shares: the run it writes to, params made storable and
metric values made numbers (each framework is imported with ``aim.errors.require``). Each
integration reads its own names and contexts the way Aim's does (docs/integrations.md,
"Differences from Aim").

The integrations (``lightning.py``, ``transformers.py``, ``keras.py``, ``xgboost.py``,
``lightgbm.py`` beside this file; imported as ``aim.pytorch_lightning``, ``aim.hugging_face``,
``aim.keras``, ``aim.xgboost``, ``aim.lightgbm``) are thin: each turns its framework's hooks
into ``Run`` calls, with the sync ``Run``'s semantics (capture of system usage and terminal
output by default, a crash-safe log, resume by hash).
"""

from __future__ import annotations

import enum
import numbers
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from aim.core import events as ev
from aim.core.values import real_number
from aim.sdk.run import Run

MAX_DEPTH = 32  # deeper params are stored as their text (frameworks' configs are shallow)

def storable(value: Any, depth: int = 0) -> Any:
    """``value`` as a param aim can store: JSON-like values as they are, containers walked,
    numpy/torch scalars as numbers, enums, paths, types and functions as text, anything else as
    its ``str``. Framework configs hold dtypes, callables and objects; a param must never
    make the training fail."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        number = int(value)
        # aim stores signed 64-bit integers: a larger one (a uint64 seed) is kept as its text.
        return number if -(2**63) <= number < 2**63 else str(number)
    if isinstance(value, numbers.Real):
        return float(value)
    if depth >= MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [storable(v, depth + 1) for v in items]
    if isinstance(value, enum.Enum):
        return storable(value.value, depth + 1)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, type) or callable(value):
        return getattr(value, "__qualname__", None) or str(value)
    item = getattr(value, "item", None)  # numpy and torch scalars, 0-d arrays and tensors
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return storable(item(), depth + 1)
        except Exception:
            pass
    return str(value)


def as_number(value: Any) -> float | int | None:
    """A metric value as a plain number, or None when it is not one (a string, an array).

    Frameworks log flags as bools: those count as 0 and 1 here (``track`` refuses a bool)."""
    if isinstance(value, bool):
        return int(value)
    return real_number(value)


class RunHolder:
    """The run an integration writes to: created on first use, reopened by hash after it was
    closed (a second ``fit``, a ``test`` after ``fit``), closed with a status."""

    def __init__(
        self,
        repo: str | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        run_hash: str | None = None,
        system_tracking_interval: float | None = 10.0,
        log_system_params: bool = True,
        capture_terminal_logs: bool = True,
        ranks: str = "all",
    ) -> None:
        self.repo = repo
        self.experiment_name = experiment
        self.run_name = run_name
        self.run_hash = run_hash
        self.run_kwargs: dict[str, Any] = {
            "system_tracking_interval": system_tracking_interval,
            "log_system_params": log_system_params,
            "capture_terminal_logs": capture_terminal_logs,
            "ranks": ranks,
        }
        self._run: Run | None = None

    @property
    def run(self) -> Run:
        """The open run (created, or resumed by hash, on first use)."""
        if self._run is None or not self._run.active:
            self._run = Run(run_hash=self.run_hash, repo=self.repo, experiment=self.experiment_name,
                            **self.run_kwargs)
            self.run_hash = self._run.hash
            if self.run_name is not None and self._run.name != self.run_name:
                self._run.name = self.run_name
        return self._run

    @property
    def is_open(self) -> bool:
        return self._run is not None and self._run.active

    def track(self, value: Any, name: str, *, step: int | None = None, epoch: int | None = None,
              context: dict[str, Any] | None = None) -> bool:
        """Track ``value`` when it is a number (NaN and infinities included: a loss that
        diverged is worth seeing); say whether it was tracked."""
        number = as_number(value)
        if number is None:
            return False
        self.run.track(number, name=name, step=step, epoch=epoch, context=context)
        return True

    def set_params(self, key: str, values: Mapping[Any, Any]) -> None:
        """Set ``run[key, k] = storable(v)`` item by item: what the user set there first stays."""
        run = self.run
        for name, value in values.items():
            run[key, str(name) or "_"] = storable(value)

    def close(self, status: str = ev.STATUS_FINISHED) -> None:
        """Close the run (when open) with ``status``: finished, failed or terminated."""
        if status not in ev.END_STATUSES:
            raise ValueError(f"status must be one of {sorted(ev.END_STATUSES)}, not {status!r}")
        run, self._run = self._run, None
        if run is not None and run.active:
            run._close_blocking(status)


class HoldsRun:
    """What a callback shows of its run: ``run`` (``experiment``, Aim's name for it),
    ``run_hash`` and ``close``. The callback sets ``self._holder`` in its constructor."""

    _holder: RunHolder

    @property
    def run(self) -> Run:
        """The run (opened on first use, reopened by hash after it was closed)."""
        return self._holder.run

    @property
    def experiment(self) -> Run:
        """The run, by Aim's name for it."""
        return self._holder.run

    @property
    def run_hash(self) -> str | None:
        """The run's hash once it was opened (or the one given to continue a run)."""
        return self._holder.run_hash

    def close(self, status: str = ev.STATUS_FINISHED) -> None:
        """Close the run now (finished, or ``status``); a later log reopens it."""
        self._holder.close(status)
