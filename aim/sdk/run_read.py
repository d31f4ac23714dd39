"""Aim's read API on a run (times, props, logs, dataframe): what ``RunBase`` adds for readers.

Names and shapes are Aim 3.29's (``aim/sdk/run.py``, ``aim/sdk/sequence.py``,
``aim/sdk/logging``), built on the run's summary and its log: ``created_at``/``finalized_at``
are naive local datetimes, as the query language's (``aim/core/query/views.py``).
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import json
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from aim.core import events as ev
from aim.core.projection import CONTEXT, LAST_VALUE, NEXT_STEP
from aim.errors import MissingExtraError
from aim.sdk.log import iter_run_events
from aim.sdk.metrics import ArrayView
from aim.sdk.repo_read import OBJECT_PLURALS, sequence_types_of
from aim.storage.context import Context

if TYPE_CHECKING:
    from aim.sdk.run_base import RunBase

# The value types Aim stores as metrics ("*" is Aim's "any type").
_METRIC_DTYPES = frozenset({"float", "int", "float64", "number", "*"})
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}
_PARAM_DEPTH = 3  # Aim's Run.dataframe flattens params three keys deep

# What ``iter_metrics_info`` yields: (name, context, the run itself), as Aim's.
SequenceInfo = tuple[str, Context, "RunBase"]


def _datetime(ts: float | None) -> _dt.datetime | None:
    # Naive local time, as the query views give it (`run.created_at > datetime(2022, 2, 2)`).
    return None if ts is None else _dt.datetime.fromtimestamp(ts)


class LogSequenceData:
    """``logs.data``: the points as Aim's ``SequenceData`` hands them out."""

    def __init__(self, steps: list[int], values: list[Any]) -> None:
        self._steps, self._values = steps, values

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return self.items()

    def items(self) -> Iterator[tuple[int, Any]]:
        """(step, value) pairs."""
        return zip(self._steps, self._values)

    def values(self) -> Iterator[Any]:
        """The values."""
        return iter(self._values)

    def indices(self) -> Iterator[int]:
        """The steps."""
        return iter(self._steps)

    def items_list(self) -> tuple[list[int], list[Any]]:
        """(steps, values) as two lists."""
        return list(self._steps), list(self._values)

    def values_list(self) -> list[Any]:
        """The values as a list."""
        return list(self._values)

    def indices_list(self) -> list[int]:
        """The steps as a list."""
        return list(self._steps)


class LogSequence:
    """What Aim's ``Sequence`` offers (``name``, ``context``, ``run``, ``values``, ``epochs``,
    ``timestamps``, ``data``, ``len()``, ``first_step()``, ``last_step()``), over points read
    from the log. Iterating it gives the values."""

    def __init__(self, name: str, run: RunBase, values: list[Any], timestamps: list[float]) -> None:
        steps = list(range(len(values)))  # one point per step, numbered from 0 as Aim does
        self.name = name
        self.context = Context({})
        self.run = run
        self.values = ArrayView(steps, values)
        self.epochs = ArrayView(steps, [None] * len(values))
        self.timestamps = ArrayView(steps, timestamps)
        self.data = LogSequenceData(steps, values)

    def __len__(self) -> int:
        return len(self.values)

    def __bool__(self) -> bool:
        return bool(self.values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values)

    def first_step(self) -> int:
        """The first step (0; Aim's method, not a property)."""
        return 0

    def last_step(self) -> int:
        """The last step (Aim's fallback, ``first_step()``, when empty)."""
        return max(len(self.values) - 1, 0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} run={self.run.hash} points={len(self)}>"


class LogLine(str):
    """One line of terminal output: a ``str`` (the line as the terminal showed it), with Aim's
    ``LogLine.data`` and the ``stream`` it came from (``stdout`` or ``stderr``)."""

    stream: str

    def __new__(cls, line: str, stream: str = "stdout") -> LogLine:
        obj = super().__new__(cls, line)
        obj.stream = stream
        return obj

    @property
    def data(self) -> str:
        """The line as a plain ``str`` (Aim's ``Text.data``)."""
        return str(self)

    def json(self) -> dict[str, Any]:
        """Aim's ``Text.json()``: an empty dict."""
        return {}


class LogLines(LogSequence):
    """``run.get_terminal_logs()``: Aim's ``Logs`` sequence: its values are ``LogLine`` strings
    in the order written (stdout and stderr together), step ``i`` is line ``i``."""


class LogRecord:
    """One ``run.log_info(...)`` (and friends) record, in Aim's shape: ``message``, ``level``
    (the ``logging`` number, 20 for INFO, as Aim's), ``timestamp``, ``extra_args``,
    ``logger_info`` (file, line), ``storage`` (Aim's raw fields) and ``json()``."""

    def __init__(self, message: str, level: int, timestamp: float | None = None,
                 logger_info: tuple[str, int] | None = None, **kwargs: Any) -> None:
        self.storage: dict[str, Any] = {"message": message, "log_level": level,
                                        "timestamp": time.time() if timestamp is None else timestamp,
                                        "__logger_info": logger_info}
        if kwargs:
            self.storage["extra_args"] = kwargs

    @property
    def message(self) -> str:
        """The message."""
        return cast(str, self.storage["message"])

    @property
    def level(self) -> int:
        """The level as a ``logging`` number (``logging.WARNING`` is 30)."""
        return cast(int, self.storage["log_level"])

    @property
    def level_name(self) -> str:
        """The level's name (``"WARNING"``)."""
        return logging.getLevelName(self.level)

    @property
    def timestamp(self) -> float:
        """Unix time of the record."""
        return cast(float, self.storage["timestamp"])

    @property
    def extra_args(self) -> dict[str, Any] | None:
        """The keyword arguments given with the message, or None."""
        return cast("dict[str, Any] | None", self.storage.get("extra_args"))

    @property
    def logger_info(self) -> tuple[str, int] | None:
        """(file, line) of the call that logged it."""
        return cast("tuple[str, int] | None", self.storage["__logger_info"])

    def json(self) -> dict[str, Any]:
        """Aim's ``LogRecord.json()``: message, level name, timestamp, extra args."""
        return {"message": self.message, "log_level": self.level_name,
                "timestamp": self.timestamp, "args": self.extra_args}

    def __repr__(self) -> str:
        return f"<LogRecord {self.level_name} {self.message!r}>"


class LogRecords(LogSequence):
    """``run.get_log_records()``: Aim's ``LogRecords`` sequence of ``LogRecord`` values, in the
    order logged (step ``i`` is record ``i``)."""


def _prop(attr: str, doc: str, settable: bool = False) -> Any:
    """A ``RunProps`` attribute read from (and, when ``settable``, written to) the run's."""

    def get(self: RunProps) -> Any:
        return getattr(self._run, attr)

    def set_(self: RunProps, value: Any) -> None:
        setattr(self._run, attr, value)

    return property(get, set_ if settable else None, doc=doc)


class RunProps:
    """``run.props``: Aim's structured record of a run, read live from the run. Setting
    ``name``, ``description``, ``archived`` or ``experiment`` sets the run's (a read-only run
    refuses, as its setters do)."""

    hash = _prop("hash", "The run hash.")
    name = _prop("name", "The run's name (None until set).", settable=True)
    description = _prop("description", "The run's description.", settable=True)
    archived = _prop("archived", "Whether the run is archived.", settable=True)
    experiment = _prop("experiment", "The experiment's name.", settable=True)
    tags = _prop("tags", "The tags, in the order added.")
    creation_time = _prop("creation_time", "Unix time the run started.")
    created_at = _prop("created_at", "When the run started (naive local datetime).")
    end_time = _prop("end_time", "Unix time the run finished, or None.")
    finalized_at = _prop("finalized_at", "When the run finished (naive local datetime), or None.")
    active = _prop("active", "True while a writer is recording the run.")

    def __init__(self, run: RunBase) -> None:
        self._run = run

    def add_tag(self, value: str) -> None:
        """Add a tag (the run's ``add_tag``)."""
        self._run.add_tag(value)

    def remove_tag(self, tag_name: str) -> None:
        """Remove a tag (the run's ``remove_tag``)."""
        self._run.remove_tag(tag_name)

    def __repr__(self) -> str:
        return f"<RunProps hash={self.hash} name={self.name!r}>"


class RunReadMixin:
    """Read-side methods of ``Run`` and ``AsyncRun`` (Aim's names and shapes)."""

    def _run(self) -> RunBase:
        return cast("RunBase", self)

    @property
    def created_at(self) -> _dt.datetime | None:
        """When the run started: a naive local ``datetime`` (as ``run.created_at`` in queries)."""
        return _datetime(self._run()._summary.creation_time)

    @property
    def finalized_at(self) -> _dt.datetime | None:
        """When the run finished (naive local ``datetime``); None while running or crashed."""
        return _datetime(self._run()._summary.end_time)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; up to now while it has no end (running, or crashed)."""
        summary = self._run()._summary
        start, end = summary.creation_time, summary.end_time
        if start is None:
            return None
        return (end if end is not None else time.time()) - start

    @property
    def props(self) -> RunProps:
        """Aim's ``run.props``: name, description, archived, experiment, tags, creation_time,
        created_at, end_time, finalized_at, active, as attributes."""
        return RunProps(self._run())

    def iter_metrics_info(self) -> Iterator[SequenceInfo]:
        """``(name, Context, run)`` for every metric sequence of the run, as Aim's, ordered by
        name then context (the index's order, whether the run was opened from it or not)."""
        yield from self.iter_sequence_info_by_type(("float", "int"))

    def iter_sequence_info_by_type(self, dtypes: str | tuple[str, ...]) -> Iterator[SequenceInfo]:
        """``(name, Context, run)`` of the sequences whose values have one of Aim's ``dtypes``
        (``"float"``, ``"int"``, ``"*"``...); only numbers are tracked here, so any other dtype
        yields nothing."""
        wanted = {dtypes} if isinstance(dtypes, str) else set(dtypes)
        if not wanted & _METRIC_DTYPES:
            return
        run = self._run()
        with run._lock:  # a writer's track() may add a sequence meanwhile
            infos = [(key[0], entry[CONTEXT]) for key, entry in sorted(run._sequences.items())]
        for name, context in infos:
            yield name, Context(context), run

    def collect_sequence_info(self, sequence_types: str | tuple[str, ...],
                              skip_last_value: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Aim's per-run overview: ``{type: [{"name", "context", "values"}]}`` where ``values``
        is ``{"last": value, "last_step": step}`` (left out with ``skip_last_value``; objects have
        their ``last_step`` only). ``"logs"`` and ``"log_records"`` give ``[]``, an unknown type
        raises ``ValueError`` (as in Aim)."""
        types = sequence_types_of(sequence_types)
        out: dict[str, list[dict[str, Any]]] = {t: [] for t in types}
        run = self._run()
        for kind, name, context, _points, last_step in run.iter_objects_info():
            plural = OBJECT_PLURALS[kind]
            if plural in out:  # an object's last value is not a number: its last step only
                seen: dict[str, Any] = {"context": context, "name": name}
                if not skip_last_value:
                    seen["values"] = {"last_step": last_step}
                out[plural].append(seen)
        if "metric" not in out:
            return out
        with run._lock:
            entries = [(key[0], copy.deepcopy(e[CONTEXT]), e[NEXT_STEP] - 1, e[LAST_VALUE])
                       for key, e in sorted(run._sequences.items())]
        for name, context, last_step, last in entries:
            trace: dict[str, Any] = {"context": context, "name": name}
            if not skip_last_value:
                trace["values"] = {"last": last, "last_step": last_step}
            out["metric"].append(trace)
        return out

    def _events_of(self, etype: str) -> Iterator[dict[str, Any]]:
        run = self._run()
        if not run.read_only and not run._closed:
            if etype == ev.LOG_LINE and run._capturing:
                _settle_capture()
            run._flush_blocking()  # a writer reads its own events: write them out first
        yield from iter_run_events(run._store.layout, run.hash, etype)

    def get_terminal_logs(self) -> LogLines | None:
        """The captured terminal output as Aim's ``Logs`` sequence (``LogLine`` values, one
        per line, as ``aim runs logs`` shows them), or None when nothing was captured (as in
        Aim). A redraw superseded by a later line of its stream is left out; one never
        superseded (a run that died mid-bar) comes last."""
        lines: list[LogLine] = []
        times: list[float] = []
        partial: dict[str, tuple[LogLine, float]] = {}
        for e in self._events_of(ev.LOG_LINE):
            stream = str(e.get("stream", "stdout"))
            line = LogLine(str(e.get("line", "")), stream)
            if e.get("partial"):
                partial[stream] = (line, e.get("ts", 0.0))
                continue
            partial.pop(stream, None)
            lines.append(line)
            times.append(e.get("ts", 0.0))
        for line, ts in partial.values():
            lines.append(line)
            times.append(ts)
        return LogLines("logs", self._run(), lines, times) if lines else None

    def get_log_records(self) -> LogRecords | None:
        """The ``log_debug/info/warning/error`` records as Aim's ``LogRecords`` sequence of
        ``LogRecord`` values, in order; None when there is none (as in Aim)."""
        records: list[LogRecord] = []
        times: list[float] = []
        for e in self._events_of(ev.LOG_RECORD):
            ts = float(e.get("ts", 0.0))
            where = (str(e["file"]), int(e.get("line") or 0)) if e.get("file") else None
            record = LogRecord(str(e.get("message", "")), _LEVELS.get(str(e.get("level")), logging.NOTSET),
                               ts, where)
            extra = e.get("extra")
            if isinstance(extra, dict) and extra:
                # Set, not passed as keywords: `log_info("m", level=3)` is a record here (Aim's
                # raises), and its `level` must not collide with LogRecord's own argument.
                record.storage["extra_args"] = extra
            records.append(record)
            times.append(ts)
        return LogRecords("__log_records", self._run(), records, times) if records else None

    def dataframe(self, include_props: bool = True, include_params: bool = True) -> Any:
        """The run as a one-row pandas DataFrame, as Aim's: ``hash``; with ``include_props``
        ``name``, ``description``, ``archived``, ``creation_time``, ``end_time``, ``active``,
        ``experiment``, ``tags`` (JSON); with ``include_params`` one column per param, flattened
        three keys deep (``hparams.lr``; lists and deeper dicts as JSON). Needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise MissingExtraError("Run.dataframe needs pandas", hint="pip install pandas") from None
        run = self._run()
        with run._lock:
            s = run._summary
            props = {"name": s.name, "description": s.description, "archived": bool(s.archived),
                     "creation_time": s.creation_time, "end_time": s.end_time}
            tags, params = list(s.tags), copy.deepcopy(s.params)
        data: dict[str, Any] = {"hash": run.hash}
        if include_props:
            data.update(props)
            data.update(active=run.status == ev.STATUS_RUNNING, experiment=run.experiment,
                        tags=json.dumps(tags))
        if include_params:
            for path, value in _flatten(params, (), _PARAM_DEPTH):
                if isinstance(value, (list, tuple, dict)):
                    value = json.dumps(value, default=_json_default)
                data.setdefault(".".join(path), value)  # as Aim: a prop column is never replaced
        return pd.DataFrame(data, index=[0])


def _flatten(tree: Any, path: tuple[str, ...], depth: int) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Aim's ``unfold_tree(params, unfold_array=False, depth=3)``: leaves, lists and empty
    dicts, or the subtree found ``depth`` keys down."""
    if depth == 0 or not isinstance(tree, dict):
        yield path, tree
        return
    if not tree and path:  # no params at all: no columns (Aim's gives a column named '')
        yield path, tree
    for key, value in tree.items():
        yield from _flatten(value, (*path, key), depth - 1)


def _settle_capture() -> None:
    # Output printed just now may still sit in the capture's pipe, not yet a line of the run:
    # let it arrive (best effort, at most half a second) so that a writer reading its own
    # terminal logs right after a print sees it. capture.py has no public call for this yet.
    from aim.sdk import capture

    terminal = capture._hub.terminal
    if terminal is not None:
        terminal.settle()


def _json_default(value: Any) -> Any:
    # bytes (a param may hold them) as the index shows them: base64.
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
