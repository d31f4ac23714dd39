"""What a writer records besides metrics and objects: params (``run[key] = value``), name,
description, experiment, archived, tags and log records (``run.log_info``...), and the summary
they fold into (``run.status``, ``run.creation_time``...). Each is one event through
``RunState.record`` under the run's lock; ``RunBase`` (and so ``Run`` and ``AsyncRun``) has
them first among its bases, so these are the ones a run answers with."""

from __future__ import annotations

import sys
import threading
from types import EllipsisType
from typing import TYPE_CHECKING, Any, cast

from aim.core import events as ev
from aim.core.params import as_path, copy_tree, get_path
from aim.core.projection import RunSummary
from aim.core.run_state import RunState
from aim.core.values import json_like, param_payload
from aim.sdk.run_sinks import now as _now
from aim.sdk.store import RepoStore

if TYPE_CHECKING:
    from aim.sdk.repo import Repo


class RunPropsMixin:
    """Params, metadata, tags and log records of a run (see the module docstring)."""

    _lock: threading.Lock
    _state: RunState
    _store: RepoStore
    hash: str
    read_only: bool

    def _buffer_full(self) -> None:
        raise NotImplementedError  # RunBase's

    # --- params, tags, metadata ----------------------------------------------------------------
    def __setitem__(self, key: str | tuple[str, ...], value: Any) -> None:
        """Set a param (nested values allowed): ``run["hparams"] = {"lr": 0.1}``."""
        self._record(ev.PARAM_SET, param_payload(value, as_path(key)))

    def __getitem__(self, key: str | tuple[str, ...] | EllipsisType) -> Any:
        """A copy of the param at ``key``; ``KeyError`` when absent. ``run[...]`` is every
        param as one dict, as in Aim."""
        with self._lock:
            if key is Ellipsis:
                return copy_tree(self._state.summary.params)
            return get_path(self._state.summary.params, as_path(key))

    def __delitem__(self, key: str | tuple[str, ...]) -> None:
        """Delete the param at ``key``; ``KeyError`` when absent."""
        path = as_path(key)
        with self._lock:
            get_path(self._state.summary.params, path)  # KeyError before anything is written
        self._record(ev.PARAM_DELETED, {"path": list(path)})

    def get(self, key: str | tuple[str, ...], default: Any = None) -> Any:
        """The param at ``key``, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def _record(self, etype: str, payload: dict[str, Any]) -> None:
        with self._lock:
            if self._state.record(etype, _now(), payload):
                self._buffer_full()

    def _set_meta(self, field: str, value: Any) -> None:
        self._record(ev.META_SET, {"field": field, "value": value})

    @property
    def repo(self) -> Repo:
        """The run's repository, as Aim's ``run.repo``: the front door (``Repo``)."""
        # Imported here: the front door sits above runs (it opens them), runs work on the
        # store below it; a run opened from a path gets its front door on first request.
        from aim.sdk.repo import Repo

        store = self._store
        if not isinstance(store, Repo):
            # Promoted in place (a Repo is a RepoStore with methods only, no state of its own):
            # every run opened from this path keeps sharing one object and one index
            # connection, so ``run.repo.close()`` closes the one they use.
            store.__class__ = Repo
        return cast(Repo, store)

    @property
    def _summary(self) -> RunSummary:
        return self._state.summary

    @property
    def name(self) -> str | None:
        """The run's display name."""
        return self._summary.name

    @name.setter
    def name(self, value: str | None) -> None:
        self._set_meta("name", _opt_str(value, "name"))

    @property
    def description(self) -> str | None:
        """Free-text description."""
        return self._summary.description

    @description.setter
    def description(self, value: str | None) -> None:
        self._set_meta("description", _opt_str(value, "description"))

    @property
    def experiment(self) -> str:
        """The experiment the run belongs to (``"default"`` unless set)."""
        return self._summary.experiment

    @experiment.setter
    def experiment(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise TypeError("experiment must be a non-empty str")
        self._set_meta("experiment", value)

    @property
    def archived(self) -> bool:
        """Archived runs are hidden by default in UIs; nothing is deleted."""
        return bool(self._summary.archived)

    @archived.setter
    def archived(self, value: bool) -> None:
        self._set_meta("archived", bool(value))

    @property
    def tags(self) -> list[str]:
        """The run's tags, in the order added."""
        with self._lock:
            return list(self._summary.tags)

    def add_tag(self, tag: str) -> None:
        """Add a tag (no-op when present)."""
        if not isinstance(tag, str) or not tag:
            raise TypeError("tag must be a non-empty str")
        if tag not in self._summary.tags:
            self._record(ev.TAG_ADDED, {"tag": tag})

    def remove_tag(self, tag: str) -> None:
        """Remove a tag (no-op when absent)."""
        if tag in self._summary.tags:
            self._record(ev.TAG_REMOVED, {"tag": tag})

    @property
    def forked_from(self) -> dict[str, Any] | None:
        """``{"hash": parent, "step": N}`` for a fork (``Run(fork_from=..., fork_step=...)``),
        else None."""
        forked = self._summary.forked_from
        return dict(forked) if forked else None

    @property
    def creation_time(self) -> float | None:
        """Unix time of ``run.started``."""
        return self._summary.creation_time

    @property
    def end_time(self) -> float | None:
        """Unix time of the last ``run.finished``, or None while running."""
        return self._summary.end_time

    @property
    def status(self) -> str:
        """running, finished, failed, terminated, or crashed (never finished, no live writer)."""
        recorded = self._summary.status
        if not self.read_only:
            return self._state.status
        if recorded != ev.STATUS_RUNNING:
            return recorded
        live = self._store.layout.is_live(self.hash)
        return ev.STATUS_RUNNING if live else ev.STATUS_CRASHED

    @property
    def active(self) -> bool:
        """True while a writer is recording this run."""
        return self.status == ev.STATUS_RUNNING

    # --- log records ---------------------------------------------------------------------------
    def log_debug(self, msg: str, **extra: Any) -> None:
        """Record a ``log.record`` event at level DEBUG (``extra``: JSON-like fields)."""
        self._log_record("DEBUG", msg, extra)

    def log_info(self, msg: str, **extra: Any) -> None:
        """Record a ``log.record`` event at level INFO (``extra``: JSON-like fields)."""
        self._log_record("INFO", msg, extra)

    def log_warning(self, msg: str, **extra: Any) -> None:
        """Record a ``log.record`` event at level WARNING (``extra``: JSON-like fields)."""
        self._log_record("WARNING", msg, extra)

    def log_error(self, msg: str, **extra: Any) -> None:
        """Record a ``log.record`` event at level ERROR (``extra``: JSON-like fields)."""
        self._log_record("ERROR", msg, extra)

    def _log_record(self, level: str, msg: str, extra: dict[str, Any]) -> None:
        stored, _floats = json_like(extra, ("extra",))
        caller = sys._getframe(2)  # the caller of log_info (and friends)
        payload: dict[str, Any] = {"level": level, "message": str(msg),
                                   "file": caller.f_code.co_filename, "line": caller.f_lineno}
        if stored:
            payload["extra"] = stored
        self._record(ev.LOG_RECORD, payload)


def _opt_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, got {type(value).__name__}")
    return value
