"""``aim convert aim3 PATH``: the runs of an Aim 3.x repository as runs here, hashes kept
(docs/convert.md).

Each run's two RocksDB stores and its row in ``run_metadata.sqlite`` are read with
``aim3_store`` (no Aim 3 code: it is also called ``aim``). What is mapped:

- the hash, so links, notes and scripts that name a run keep working;
- experiment, name, description, tags and archived (sqlite), creation time (sqlite) and end
  time (``end_time``): a run with an end is finished; one without (it crashed, or is still
  running) is imported without one, so it reads as crashed here, and a note says so;
- params (``attrs``), as they are, ``__system_params`` included; Aim 3's notes of the run as
  the param ``aim3_notes``;
- every sequence, at its steps, with its epochs, timestamps and context: metrics; images,
  texts, distributions, audio and figures as the same objects here; ``logs`` (terminal output)
  as log lines; ``__log_records`` as log records. An object type this project has no match
  for is counted as skipped.

A run is read whole, then written in the order its values were recorded (by timestamp).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aim.core import events as ev
from aim.sdk.convert.aim3_store import (
    Aim3Object,
    RunDB,
    RunMeta,
    encode_path,
    find_aim_dir,
    fold,
    read_metadata,
    require_aimrocks,
    run_hashes,
    split_cell,
    split_path,
)
from aim.sdk.convert.builder import Progress, RunBuilder
from aim.sdk.convert.report import ConvertReport
from aim.sdk.objects.audio import Audio
from aim.sdk.objects.base import AimObject
from aim.sdk.objects.distribution import Distribution
from aim.sdk.objects.figure import Figure
from aim.sdk.objects.image import Image
from aim.sdk.objects.text import Text
from aim.sdk.store import RepoStore

LOG_LINES = "aim.log_line"
LOG_RECORDS = "aim.log_record"

# One point of a sequence, as read: (time, order, name, context, step, epoch, value).
Point = tuple[float, int, str, dict[str, Any], int, int | None, Any]


def convert_aim3(repo: RepoStore, path: str | os.PathLike[str],
                 progress: Progress | None = None) -> ConvertReport:
    """Import every run of the Aim 3 repository at ``path`` not imported yet."""
    aim_dir = find_aim_dir(Path(path).expanduser())
    require_aimrocks()  # the missing extra is said before anything is written
    report = ConvertReport("aim3", str(aim_dir))
    metadata = read_metadata(aim_dir)
    hashes = run_hashes(aim_dir)
    for done, run_hash in enumerate(hashes, 1):
        if RunBuilder.exists(repo, run_hash):
            report.already += 1
        else:
            _import_run(repo, aim_dir, run_hash, metadata.get(run_hash, RunMeta()), report)
        if progress is not None:
            progress(done, len(hashes))
    return report


def _import_run(repo: RepoStore, aim_dir: Path, run_hash: str, meta: RunMeta, report: ConvertReport) -> None:
    builder: RunBuilder | None = None
    try:
        builder = RunBuilder(repo, run_hash)
        _build(builder, aim_dir, run_hash, meta, report)
        builder.commit()
    except Exception as exc:  # one unreadable Aim run is reported, never the whole import
        if builder is not None:
            builder.abort()
        report.failed(f"run {run_hash}", exc)
        return
    report.imported(builder.points)


def _build(builder: RunBuilder, aim_dir: Path, run_hash: str, meta: RunMeta, report: ConvertReport) -> None:
    meta_db = RunDB(aim_dir / "meta" / "chunks" / run_hash)
    try:
        tree = meta_db.tree(encode_path(("meta", "chunks", run_hash))) or {}
    finally:
        meta_db.close()
    contexts: dict[Any, Any] = tree.get("contexts") or {}
    points: list[Point] = []
    seqs_dir = aim_dir / "seqs" / "chunks" / run_hash
    if seqs_dir.is_dir():
        seqs_db = RunDB(seqs_dir)
        try:
            for version, prefix in ((1, ("seqs", "chunks", run_hash)), (2, ("seqs", "v2", "chunks", run_hash))):
                for point in _points(seqs_db, encode_path(prefix), version, contexts):
                    points.append((point[0], len(points), *point[1:]))
        finally:
            seqs_db.close()
    points.sort(key=lambda p: (p[0], p[1]))

    end = tree.get("end_time")
    start = meta.created_at or (points[0][0] if points else end)
    start = round(start or os.stat(aim_dir / "meta" / "chunks" / run_hash).st_mtime, 3)
    builder.start(start, meta.experiment or "default", meta.name)
    if meta.description:
        builder.meta("description", meta.description, start)
    for tag in meta.tags:
        builder.tag(tag, start)
    if meta.archived:
        builder.meta("archived", True, start)
    for key, value in (tree.get("attrs") or {}).items():
        builder.param(str(key), value, start)
    if meta.notes:
        builder.param("aim3_notes", meta.notes, start)
    for ts, _, name, context, step, epoch, value in points:
        _write(builder, ts, name, context, step, epoch, value, report)
    if isinstance(end, (int, float)):
        builder.finish(ev.STATUS_FINISHED, round(float(end), 3))
    else:
        report.notes.append(f"run {run_hash} has no end time in Aim 3 (it crashed, or was still running): "
                            "imported without one, so it reads as crashed")


def _points(db: RunDB, prefix: bytes, version: int, contexts: dict[Any, Any]
            ) -> Iterator[tuple[float, str, dict[str, Any], int, int | None, Any]]:
    """``(time, name, context, step, epoch, value)`` of every point of every sequence under
    ``prefix``. Keys come sorted by context, name, column, then step (v1) or step hash (v2);
    one sequence is gathered at a time, its columns joined by that key."""
    head: bytes | None = None
    cells: dict[bytes, dict[int, list[tuple[tuple[Any, ...], Any]]]] = {}
    for rel, value in db.items(prefix):
        cell = split_cell(rel)
        if cell is None:
            continue  # a column's array flag
        seq, column, key, sub = cell
        if seq != head:
            if head is not None:
                yield from _join(split_path(head), cells, version, contexts)
            head, cells = seq, {}
        cells.setdefault(column, {}).setdefault(key, []).append((split_path(sub) if sub else (), value))
    if head is not None:
        yield from _join(split_path(head), cells, version, contexts)


def _join(seq: tuple[Any, ...], cells: dict[bytes, dict[int, list[tuple[tuple[Any, ...], Any]]]], version: int,
          contexts: dict[Any, Any]) -> Iterator[tuple[float, str, dict[str, Any], int, int | None, Any]]:
    ctx_id, name = seq
    context = contexts.get(ctx_id) or {}
    if not isinstance(context, dict):
        context = {}
    vals, steps = cells.get(b"val", {}), cells.get(b"step", {})
    epochs, times = cells.get(b"epoch", {}), cells.get(b"time", {})
    for key, items in vals.items():
        step = _cell(steps[key]) if version == 2 else key
        epoch = _cell(epochs[key]) if key in epochs else None
        ts = _cell(times[key]) if key in times else 0.0
        yield float(ts), str(name), context, int(step), epoch if isinstance(epoch, int) else None, _cell(items)


def _cell(items: list[tuple[tuple[Any, ...], Any]]) -> Any:
    """One cell's value: a primitive as it is (most cells), else the folded object or list."""
    if len(items) == 1 and not items[0][0]:
        return items[0][1]
    return fold(items)


_LEVELS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARNING",
           logging.ERROR: "ERROR", logging.CRITICAL: "CRITICAL"}


def _write(builder: RunBuilder, ts: float, name: str, context: dict[str, Any], step: int, epoch: int | None,
           value: Any, report: ConvertReport) -> None:
    """One point into the builder: a metric, objects, a log line or a log record."""
    if value is None:
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        builder.metric(name, value, step, ts, context, epoch)
        return
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(o, Aim3Object) for o in items):
        report.skipped += 1
        return
    kind = items[0].type_name
    if kind == LOG_LINES:
        for item in items:
            builder.log_line(str(item.storage.get("data", "")), ts)
        return
    if kind == LOG_RECORDS:
        for item in items:
            s = item.storage
            info = s.get("__logger_info")
            where = (str(info[0]), int(info[1])) if isinstance(info, list) and len(info) == 2 else None
            builder.log_record(_LEVELS.get(int(s.get("log_level") or 0), "INFO"), str(s.get("message", "")),
                               float(s.get("timestamp") or ts), s.get("extra_args") or None, where)
        return
    objects = [_object(item) for item in items]
    if any(o is None for o in objects):
        report.skipped += 1
        return
    builder.objects(name, [o for o in objects if o is not None], step, ts, context, epoch,
                    is_list=isinstance(value, list))


def _object(item: Aim3Object) -> AimObject | None:
    """This project's object for an Aim 3 object, from its stored bytes (never re-encoded)."""
    s = item.storage
    data = s.get("data")
    if item.type_name == "aim.image" and isinstance(data, bytes):
        # Fields Aim 3 left out are read from the PNG or JPEG itself (Image._from_stored).
        return Image._from_stored(data, {k: s[k] for k in ("caption", "format", "width", "height", "mode")
                                         if s.get(k) is not None})
    if item.type_name == "aim.text" and isinstance(data, (str, bytes)):
        return Text(data if isinstance(data, str) else data.decode("utf-8"))
    if item.type_name == "aim.distribution" and isinstance(data, bytes):
        import numpy as np

        weights = np.frombuffer(data, dtype=np.dtype(str(s.get("dtype", "int64"))), count=int(s["bin_count"]))
        lo, hi = s["range"]
        return Distribution(hist=weights, bin_range=(lo, hi))
    if item.type_name == "aim.audio" and isinstance(data, bytes):
        return Audio._from_stored(data, {"format": s.get("format", ""), "caption": s.get("caption", ""),
                                         "rate": s.get("rate")})
    if item.type_name == "aim.figure" and isinstance(data, (str, bytes)):
        return Figure._from_stored(data.encode("utf-8") if isinstance(data, str) else data,
                                   {"version": s.get("version")})
    return None
