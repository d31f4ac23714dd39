"""``aim convert wandb DIRECTORY``: W&B offline runs as runs (docs/convert.md).

Every ``run-<id>.wandb`` under DIRECTORY (``wandb/offline-run-*/``, and synced ``run-*``
folders alike) is one run, read from W&B's transaction log (``wandb_records``), so timestamps are
the ones W&B recorded. The mapping follows Aim's own W&B converter
(``aim/cli/convert/processors/wandb.py``, which reads runs through the W&B API):

* the project is the experiment; ``display_name`` the name (the run id when there is none);
  ``notes`` the description; tags as tags; ``start_time`` the creation time;
* params ``wandb_run_id``, ``wandb_run_name`` and ``params`` (the config, without W&B's own
  ``_wandb`` key, as the W&B API's ``run.config`` leaves it out); ``wandb_group`` and
  ``wandb_job_type`` when set; ``wandb_summary``: the final summary, without ``_`` keys;
* history: each number at its ``_step`` with its ``_timestamp`` (float64 kept bit for bit),
  ``epoch`` the history's ``epoch`` key when it is an integer; keys as Aim names them: nested
  dicts joined with ``.``, and ``"a/b"`` is the metric ``b`` with the context ``{"tag": "a"}``
  (plus ``"subset"``: ``train``, ``val`` or ``test`` when the tag holds one); histograms as
  ``aim.Distribution`` (equal-width bins), images (one, or a list) as ``aim.Image``;
* system metrics (stats records) as Aim names them: ``__system__cpu``, ``__system__gpu``...
  with Aim's contexts (``{"tag": "system"}``...), at steps 0, 1, 2... (each sample's index);
  the others are skipped, as Aim skips them (each counted once per run, not per sample);
* terminal output (``output_raw``/``output`` records) as log lines at the time W&B got them;
* the exit record: code 0 finishes the run, another fails it; a run with no exit record (killed)
  has no end and reads as crashed. One with no exit record whose log changed in the last
  ``LIVE_SECONDS`` is still being written: it is left for a later import, with a note.

Anything else (tables, audio, strings, booleans, histograms of unequal bins) is counted as
skipped. The run's hash comes from ``{project}/{run_id}/{start_time}``: stable when the folder
moves, and distinct for a resumed offline run (same id, another folder and start time).
"""

from __future__ import annotations

import json
import os
import time
from itertools import chain
from pathlib import Path
from typing import Any

from aim.core import events as ev
from aim.core.params import set_path
from aim.core.terminal_lines import LineAssembler
from aim.errors import MetricValueError, ParamTypeError
from aim.sdk.convert.builder import Progress, RunBuilder, source_hash
from aim.sdk.convert.report import ConvertReport
from aim.sdk.convert.wandb_records import (
    CorruptLogError,
    TransactionLog,
    find_logs,
    flat_row,
    get_path,
    item_values,
    record_class,
)
from aim.sdk.convert.wandb_values import (
    distribution,
    epoch_of,
    is_number,
    is_step,
    metric_key,
    system_metric,
)
from aim.sdk.objects.base import AimObject
from aim.sdk.store import RepoStore

SOURCE = "wandb"
LIVE_SECONDS = 60.0  # W&B samples system stats every 15 s: a live run's log changes at least as often
INTERNAL_CONFIG = frozenset({"_wandb", "wandb_version"})  # W&B's own keys (the W&B API hides them)


def convert_wandb(repo: RepoStore, directory: str | os.PathLike[str], project: str | None = None,
                  progress: Progress | None = None) -> ConvertReport:
    """Import every W&B run under ``directory`` not imported yet (only ``project``'s when
    given); see the module docstring."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}")
    record_class()  # the missing extra is said before anything is written
    report = ConvertReport(SOURCE, str(root))
    logs = find_logs(root)
    for done, path in enumerate(logs, 1):
        _convert_log(repo, path, project, report)
        if progress is not None:
            progress(done, len(logs))
    return report


def run_identity(run: Any) -> str:
    """What names a W&B run across imports: its project, id and start time (to the nanosecond)."""
    return f"{run.project}/{run.run_id}/{run.start_time.seconds}.{run.start_time.nanos:09d}"


def _convert_log(repo: RepoStore, path: Path, project: str | None, report: ConvertReport) -> None:
    folder = path.parent
    log = TransactionLog(path)
    records = iter(log)
    head: list[Any] = []
    try:
        for record in records:  # up to the run record: enough to know the run's hash
            head.append(record)
            if record.HasField("run"):
                break
        else:
            if _live(path):
                report.notes.append(f"{folder}: being written (no run record yet): left for a later import")
                return
            raise CorruptLogError("no run record: the run was killed before it started")
    except Exception as exc:  # an unreadable log is one error, never the whole import
        report.failed(str(folder), exc)
        return
    run = head[-1].run
    if project is not None and run.project != project:
        return
    run_hash = source_hash(SOURCE, run_identity(run))
    if RunBuilder.exists(repo, run_hash):
        report.already += 1
        return
    builder = RunBuilder(repo, run_hash)
    try:
        reader = _RunReader(builder, folder, report, fallback_start=path.stat().st_mtime)
        for record in chain(head[-1:], head[:-1], records):  # the run record first: it starts the run
            reader.feed(record)
        if reader.exit is None and _live(path):
            builder.abort()
            report.notes.append(f"{folder}: being written (no exit record, changed in the last "
                                f"{LIVE_SECONDS:.0f} s): left for a later import")
            return
        reader.close()
        builder.commit()
    except Exception as exc:  # one unreadable source run is reported, never the whole import
        builder.abort()
        report.failed(str(folder), exc)
        return
    if log.torn:
        report.notes.append(f"{folder}: the log ends inside a record (the run was killed mid-write): "
                            f"imported up to its last whole record")
    elif reader.exit is None:
        report.notes.append(f"{folder}: no exit record (the run was killed): imported with no end")
    report.imported(builder.points)


def _live(path: Path) -> bool:
    return time.time() - path.stat().st_mtime < LIVE_SECONDS


class _RunReader:
    """Feeds one run's records, in order, to its builder."""

    def __init__(self, builder: RunBuilder, folder: Path, report: ConvertReport,
                 fallback_start: float) -> None:
        self.builder, self.report = builder, report
        self.fallback_start = fallback_start  # a run record with no start time: the log's mtime
        self.files = (folder / "files").resolve()
        self.started = False
        self.start = self.last = 0.0  # the creation time; the latest time a record holds
        self.name: str | None = None
        self.notes = ""
        self.tags: set[str] = set()
        self.summary: dict[str, Any] = {}
        self.exit: Any = None
        # Lines as a terminal showed them (``\r`` redraws folded), as the live capture records them.
        self.lines = {s: LineAssembler() for s in ("stdout", "stderr")}
        self.system_steps: dict[tuple[str, str], int] = {}  # a system metric's next step
        self.unmapped: set[str] = set()  # the system metrics skipped

    def feed(self, record: Any) -> None:
        """Map one record; kinds with nothing to import (telemetry, files...) are passed over."""
        kind = record.WhichOneof("record_type")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(getattr(record, kind))

    def skip(self) -> None:
        self.report.skipped += 1

    def _time(self, stamp: Any) -> float:
        """A protobuf Timestamp as Unix seconds (the latest time seen when it is unset)."""
        if stamp.seconds == 0 and stamp.nanos == 0:
            return self.last
        ts = stamp.seconds + stamp.nanos / 1e9
        self.last = max(self.last, ts)
        return ts

    def _on_run(self, run: Any) -> None:
        b = self.builder
        if not self.started:  # the first run record starts the run; later ones update it
            self.started = True
            self.start = self.last = self._time(run.start_time) or self.fallback_start
            self.name = run.display_name or run.run_id
            b.start(self.start, run.project, self.name)
            b.param("wandb_run_id", run.run_id, self.start)
            if run.display_name:
                b.param("wandb_run_name", run.display_name, self.start)
            for key, value in (("wandb_group", run.run_group), ("wandb_job_type", run.job_type)):
                if value:
                    b.param(key, value, self.start)
            config: dict[str, Any] = {}
            for path, value in item_values(run.config.update):
                if path[0] not in INTERNAL_CONFIG:
                    set_path(config, path, value)
            for key, value in config.items():
                self._param(("params", key), value, self.start)
        else:
            self._on_config(run.config)
            if run.display_name and run.display_name != self.name:
                self.name = run.display_name
                b.meta("name", run.display_name, self.last)
                b.param("wandb_run_name", run.display_name, self.last)
        if run.notes and run.notes != self.notes:
            self.notes = run.notes
            b.meta("description", run.notes, self.last)
        for tag in run.tags:
            if tag not in self.tags:
                self.tags.add(tag)
                b.tag(tag, self.last)
        self._on_summary(run.summary)

    def _on_config(self, config: Any) -> None:
        for path, value in item_values(config.update):
            if path[0] not in INTERNAL_CONFIG:
                self._param(("params", *path), value, self.last)
        for _ in config.remove:  # a key removed: params here are only ever set
            self.skip()

    def _param(self, path: tuple[str, ...], value: Any, ts: float) -> None:
        """One param, key by key so that a value refused here (an integer of more than 64
        bits) skips that key only."""
        try:
            self.builder.param(path, value, ts)
        except ParamTypeError:
            self.skip()

    def _on_summary(self, summary: Any) -> None:
        for path, value in item_values(summary.update):
            set_path(self.summary, path, value)
        for item in summary.remove:
            path = list(item.nested_key) or [item.key]
            parent = get_path(self.summary, path[:-1])
            if isinstance(parent, dict):
                parent.pop(path[-1], None)

    def _on_history(self, history: Any) -> None:
        row: dict[str, Any] = {}
        for path, value in item_values(history.item):
            set_path(row, path, value)
        step: int = row["_step"] if is_step(row.get("_step")) else int(history.step.num)
        ts = float(row["_timestamp"]) if is_number(row.get("_timestamp")) else self.last
        self.last = max(self.last, ts)
        epoch = epoch_of(row.get("epoch"))
        for key, value in flat_row(row):
            name, context = metric_key(key)
            self._point(name, context, value, step, ts, epoch)

    def _point(self, name: str, context: dict[str, Any], value: Any, step: int, ts: float,
               epoch: int | None) -> None:
        try:
            if is_number(value):
                self.builder.metric(name, value, step, ts, context, epoch)
                return
            media = self._media(value) if isinstance(value, dict) else None
            if media is not None:
                objects, is_list = media
                self.builder.objects(name, objects, step, ts, context, epoch, is_list)
                return
        except MetricValueError:  # a value the builder refuses (a sequence changing kind...)
            pass
        self.skip()

    def _media(self, media: dict[str, Any]) -> tuple[list[AimObject], bool] | None:
        """The objects of a W&B media dict, or None for a kind not mapped (or not readable)."""
        from aim.sdk.objects.image import Image

        kind = media.get("_type")
        try:
            if kind == "histogram":
                dist = distribution(media)
                return None if dist is None else ([dist], False)
            if kind == "image-file":
                return [Image(self._file(media["path"]), caption=media.get("caption") or "")], False
            if kind == "images/separated":
                files = media["filenames"]
                captions = media.get("captions") or [None] * len(files)
                return [Image(self._file(f), caption=c or "") for f, c in zip(files, captions)], True
        except (KeyError, TypeError, ValueError, OSError):  # a media file missing or unreadable
            return None
        return None

    def _file(self, relative: str) -> str:
        path = (self.files / relative).resolve()
        if not path.is_relative_to(self.files):  # a path in a record names a file of this run only
            raise ValueError(f"{relative!r} is not in the run's files")
        return str(path)

    def _on_stats(self, stats: Any) -> None:
        ts = self._time(stats.timestamp)
        for item in stats.item:
            mapped = system_metric(item.key)
            value = json.loads(item.value_json) if item.value_json else None
            if mapped is None or not is_number(value):
                if item.key not in self.unmapped:  # one entry per system metric, not per sample
                    self.unmapped.add(item.key)
                    self.skip()
                continue
            name, context = mapped
            seq = (name, json.dumps(context, sort_keys=True))
            step = self.system_steps.get(seq, 0)  # no step in W&B: the sample's index, as Aim's track
            self.system_steps[seq] = step + 1
            self._point(name, context, value, step, ts, None)

    def _on_output_raw(self, output: Any) -> None:
        stream = "stdout" if output.output_type == 1 else "stderr"  # W&B's enum: STDERR=0, STDOUT=1
        ts = self._time(output.timestamp)
        for line, partial in self.lines[stream].feed(output.line, ts):
            if not partial:  # a redraw's intermediate state: only a live view shows those
                self.builder.log_line(line, ts, stream)

    _on_output = _on_output_raw  # the older record, same fields

    def _on_exit(self, record: Any) -> None:
        self.exit = record

    def close(self) -> None:
        """The end of the log: unfinished lines, the summary, and the end status if it exited."""
        b = self.builder
        if not self.started:
            raise CorruptLogError("no run record")
        for stream, assembler in self.lines.items():
            for line, _partial in assembler.flush():
                b.log_line(line, self.last, stream)
        for key, value in self.summary.items():
            if not key.startswith("_"):
                self._param(("wandb_summary", key), value, self.last)
        if self.exit is not None:
            end = max(self.last, self.start + self.exit.runtime)
            b.finish(ev.STATUS_FINISHED if self.exit.exit_code == 0 else ev.STATUS_FAILED, end)
