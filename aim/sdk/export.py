"""Export metrics and params as tidy rows (CSV or JSON lines), streaming.

Metrics: one row per point: ``run, name, context, step, epoch, value, time``. Events are read
in log order, segment by segment; memory holds one pending row per sequence (consecutive
events of one sequence at the same step collapse to the last, as read-back shows them), never
the run. Params: one row per leaf: ``run, key, value`` (the key a dotted path, the value JSON).
Objects: one row per object: ``run, kind, name, context, step, index, sha256, size, meta, file``
(the last value per step, as read-back shows them); with a folder for blobs, each object's bytes
as tracked are written there as ``<run>/<sha256>.<ext>`` (checked against the SHA-256), and
``file`` says where.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, TextIO

import orjson

from aim.core import events as ev
from aim.core.encoding import nonfinite_to_str
from aim.core.values import to_json_form
from aim.sdk import indexer
from aim.sdk.log import iter_run_events
from aim.sdk.store import RepoStore
from aim.storage.blobs import RunBlobs

METRIC_COLUMNS = ("run", "name", "context", "step", "epoch", "value", "time")
OBJECT_COLUMNS = ("run", "kind", "name", "context", "step", "index", "sha256", "size", "meta", "file")
# A blob file's extension, from what its object's metadata says it is.
_EXTENSIONS = {"image": None, "audio": None, "text": "txt", "distribution": "json", "figure": "json"}
PARAM_COLUMNS = ("run", "key", "value")


class _Rows:
    def __init__(self, stream: TextIO, fmt: str, columns: tuple[str, ...]) -> None:
        self.stream, self.fmt, self.columns = stream, fmt, columns
        if fmt == "csv":
            self.csv = csv.writer(stream, lineterminator="\n")
            self.csv.writerow(columns)

    def write(self, row: tuple[Any, ...]) -> None:
        if self.fmt == "csv":
            self.csv.writerow(["" if v is None else v for v in row])
        else:
            obj = dict(zip(self.columns, row))
            value = obj.get("value")
            if isinstance(value, float) and not math.isfinite(value):
                obj["value"] = nonfinite_to_str(value)
            self.stream.write(orjson.dumps(obj).decode() + "\n")


def write_metrics(repo: RepoStore, run_hashes: list[str], stream: TextIO, fmt: str) -> int:
    """Write every metric point of the runs; return the number of rows."""
    out = _Rows(stream, fmt, METRIC_COLUMNS)
    rows = 0
    for h in run_hashes:
        pending: dict[tuple[Any, bytes], tuple[Any, ...]] = {}
        for e in iter_run_events(repo.layout, h, ev.METRIC):
            if e.get("type") != ev.METRIC:
                continue
            context = e.get("context") or {}
            ctx = orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
            key = (e.get("name"), ctx)
            row = (h, e.get("name"), ctx.decode() if fmt == "csv" else context, e.get("step"),
                   e.get("epoch"), e.get("value"), e.get("ts"))
            held = pending.get(key)
            if held is not None and held[3] != row[3]:
                out.write(held)
                rows += 1
            pending[key] = row
        for row in pending.values():
            out.write(row)
            rows += 1
    return rows


def write_params(repo: RepoStore, run_hashes: list[str], stream: TextIO, fmt: str) -> int:
    """Write every param leaf of the runs (their current values); return the number of rows."""
    out = _Rows(stream, fmt, PARAM_COLUMNS)
    rows = 0
    for h in run_hashes:
        summary = indexer.replay_run(repo.layout, h)[0]
        for path, value in _leaves(summary.params, ()):
            value = to_json_form(value)
            out.write((h, ".".join(path), orjson.dumps(value).decode() if fmt == "csv" else value))
            rows += 1
    return rows


def write_objects(repo: RepoStore, run_hashes: list[str], stream: TextIO, fmt: str,
                  blobs_dir: Path | None = None) -> int:
    """Write every object of the runs (and, with ``blobs_dir``, their bytes); return the rows."""
    out = _Rows(stream, fmt, OBJECT_COLUMNS)
    rows = 0
    for h in run_hashes:
        latest: dict[tuple[Any, bytes, Any], dict[str, Any]] = {}
        for e in iter_run_events(repo.layout, h, ev.OBJECT):
            if e.get("type") == ev.OBJECT:
                ctx = orjson.dumps(e.get("context") or {}, option=orjson.OPT_SORT_KEYS)
                key = (e.get("name"), ctx, e.get("step"))
                latest.pop(key, None)  # the last value per step, in the order of its last event
                latest[key] = e
        blobs = RunBlobs(repo.layout.blobs_dir(h))
        for (name, ctx, step), e in latest.items():
            for i, item in enumerate(e.get("items") or []):
                meta = item.get("meta") or {}
                file = None
                if blobs_dir is not None:
                    data = blobs.read(item["sha256"], bool(item.get("zst")))
                    ext = _EXTENSIONS.get(str(e.get("kind")), "bin") or str(meta.get("format") or "bin")
                    target = blobs_dir / h / f"{item['sha256']}.{ext}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    file = str(target)
                context = ctx.decode() if fmt == "csv" else orjson.loads(ctx)
                out.write((h, e.get("kind"), name, context, step, i, item.get("sha256"), item.get("size"),
                           orjson.dumps(meta).decode() if fmt == "csv" else meta, file))
                rows += 1
    return rows


def _leaves(tree: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.extend(_leaves(value, (*prefix, key)))
        else:
            out.append(((*prefix, key), value))
    return out
