"""How an importer writes a run: ``RunBuilder`` turns another tracker's records into this
project's events, with the source's own timestamps, and places the run whole or not at all.

An importer does not go through ``Run``: a run it makes is a history that already happened, so
every event carries the time the source recorded, not the time of the import. The builder
validates each value with the one definition every writer uses (``core.values``), folds the
events into the summary (``core.projection``) and writes them as ``RunState`` would (JSON
lines, one frame per batch, segments rotated), under ``tmp/``. ``commit`` renames the finished
run into ``runs/`` and indexes it. So an import killed at any point leaves no run or a whole
one, and a second import finds the whole ones and skips them (``RunBuilder.exists``).

A run's hash comes from its source (``source_hash``): the same source run always becomes the same
run here, which is what makes an import idempotent and resumable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from aim.core import events as ev
from aim.core.encoding import context_key, encode_events
from aim.core.values import check_index, check_name, json_like, metric_value, param_payload
from aim.errors import MetricValueError
from aim.sdk import indexer
from aim.sdk.objects.base import MAX_BLOB_BYTES, AimObject
from aim.sdk.store import RepoStore
from aim.storage.blobs import BLOBS_DIR, RunBlobs
from aim.storage.hashes import validate_run_hash
from aim.storage.segment_writer import DEFAULT_MAX_BYTES, SegmentWriter

BATCH = 20_000  # events per frame, as a writer's batch

# How an importer tells the CLI's progress bar: ``progress(done, total)`` after each source run.
Progress = Callable[[int, int], None]


def source_hash(source: str, identity: str) -> str:
    """The run hash an importer gives the run ``identity`` of ``source`` (``tensorboard``,
    ``mlflow``...): 24 hex digits of a SHA-256, the same on every import."""
    return hashlib.sha256(f"aim-convert\0{source}\0{identity}".encode()).hexdigest()[:24]


class RunBuilder:
    """One imported run, built under ``tmp/`` and placed by ``commit``."""

    def __init__(self, repo: RepoStore, run_hash: str) -> None:
        self.repo = repo
        self.hash = validate_run_hash(run_hash)
        self.work = repo.layout.tmp / f"{run_hash}.{os.getpid()}"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self._writer = SegmentWriter(self.work / "events", max_bytes=DEFAULT_MAX_BYTES)
        self._pending: list[dict[str, Any]] = []
        self._seq = 0
        self._blobs: RunBlobs | None = None
        self._kinds: dict[tuple[str, bytes], str] = {}  # sequence -> "metric" or an object kind
        self._seen: dict[tuple[str, int, str], tuple[Any, tuple[str, bytes]]] = {}
        self.points = 0

    @staticmethod
    def exists(repo: RepoStore, run_hash: str) -> bool:
        """True when the run is in the repository (a whole earlier import)."""
        return repo.layout.run_dir(run_hash).is_dir()

    def _add(self, etype: str, ts: float, payload: dict[str, Any]) -> None:
        self._pending.append({"seq": self._seq, "ts": ts, "type": etype, **payload})
        self._seq += 1
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write(encode_events(self._pending))
            self._pending = []

    def start(self, ts: float, experiment: str, name: str | None = None, **fields: Any) -> None:
        """``run.started`` at the source's creation time (``fields``: where it came from)."""
        self._add(ev.RUN_STARTED, ts, {"hash": self.hash, "experiment": experiment or "default",
                                        "name": name, "format": ev.FORMAT_VERSION, **fields})

    def param(self, key: str | tuple[str, ...], value: Any, ts: float) -> None:
        """``param.set`` of one param (a nested value allowed), as ``run[key] = value``."""
        self._add(ev.PARAM_SET, ts, param_payload(value, (key,) if isinstance(key, str) else tuple(key)))

    def meta(self, field: str, value: Any, ts: float) -> None:
        """``meta.set`` of name, description, experiment or archived."""
        self._add(ev.META_SET, ts, {"field": field, "value": value})

    def tag(self, tag: str, ts: float) -> None:
        """``tag.added``."""
        self._add(ev.TAG_ADDED, ts, {"tag": tag})

    def metric(self, name: str, value: Any, step: int, ts: float, context: dict[str, Any] | None = None,
               epoch: int | None = None) -> None:
        """One metric point, validated as ``run.track`` validates it."""
        name = check_name(name)
        stored = metric_value(value, name)
        self._sequence(name, context, "metric")
        payload: dict[str, Any] = {"name": name, "context": context or {}, "step": check_index(step, "step")}
        if epoch is not None:
            payload["epoch"] = check_index(epoch, "epoch")
        payload["value"] = stored
        self._add(ev.METRIC, ts, payload)
        self.points += 1

    def objects(self, name: str, objects: Sequence[AimObject], step: int, ts: float,
                context: dict[str, Any] | None = None, epoch: int | None = None,
                is_list: bool = False) -> None:
        """One step of an object sequence (images, texts, distributions, audio, figures), as
        ``run.track(obj_or_list, name=..., step=...)`` records it: blobs under ``blobs/``,
        then one ``object`` event. ``is_list``: the source tracked a list at this step."""
        name = check_name(name)
        if not objects or len({o.kind for o in objects}) != 1:
            raise MetricValueError(f"{name!r}: one step holds one or more objects of one kind")
        kind = objects[0].kind
        self._sequence(name, context, kind)
        if self._blobs is None:
            self._blobs = RunBlobs(self.work / BLOBS_DIR)
        items = []
        for obj in objects:
            data, meta = obj._to_stored()
            if len(data) > MAX_BLOB_BYTES:
                raise MetricValueError(f"an object of {len(data):,} bytes is more than one object may hold")
            sha, size = self._blobs.put(data, obj.compress)
            item: dict[str, Any] = {"sha256": sha, "size": size, "meta": meta}
            if obj.compress:
                item["zst"] = True
            items.append(item)
        payload: dict[str, Any] = {"kind": kind, "name": name, "context": context or {},
                                   "step": check_index(step, "step"), "items": items}
        if epoch is not None:
            payload["epoch"] = check_index(epoch, "epoch")
        if is_list:
            payload["list"] = True
        self._add(ev.OBJECT, ts, payload)
        self.points += 1

    def _sequence(self, name: str, context: dict[str, Any] | None, kind: str) -> tuple[str, bytes]:
        """Refuse a sequence that would hold metrics and objects, or objects of two kinds (as
        ``run.track`` refuses it)."""
        # An importer passes each sequence's one context dict with every point: its key is made
        # once. The entry holds the dict, so its id cannot be reused by another while cached.
        cached = self._seen.get((name, id(context), kind))
        if cached is not None and cached[0] is context:
            return cached[1]
        key = (name, context_key(context))  # a bad context is refused here, not later
        held = self._kinds.setdefault(key, kind)
        if held != kind:
            raise MetricValueError(f"{name!r} with context {key[1].decode()} holds {held}, not {kind}")
        self._seen[(name, id(context), kind)] = (context, key)
        return key

    def log_line(self, line: str, ts: float, stream: str = "stdout") -> None:
        """One line of terminal output."""
        self._add(ev.LOG_LINE, ts, {"stream": stream, "line": line})

    def log_record(self, level: str, message: str, ts: float, extra: dict[str, Any] | None = None,
                   where: tuple[str, int] | None = None) -> None:
        """One ``log.record`` (as ``run.log_info`` and friends): ``level`` is ``DEBUG``,
        ``INFO``, ``WARNING``, ``ERROR`` or ``CRITICAL``; ``where`` the source's file and line."""
        payload: dict[str, Any] = {"level": level, "message": str(message)}
        if where is not None:
            payload["file"], payload["line"] = where[0], int(where[1])
        if extra:
            payload["extra"] = json_like(extra, ("extra",))[0]
        self._add(ev.LOG_RECORD, ts, payload)

    def finish(self, status: str, ts: float) -> None:
        """``run.finished`` with the source's end status and time."""
        self._add(ev.RUN_FINISHED, ts, {"status": status})

    def commit(self) -> None:
        """Write what is pending, seal, rename the run into ``runs/`` and index it."""
        self._flush()
        self._writer.seal()
        if self._blobs is not None:
            self._blobs.sync_pending()
        os.rename(self.work, self.repo.layout.run_dir(self.hash))
        indexer.refresh(self.repo.layout, self.repo.index, [self.hash])

    def abort(self) -> None:
        """Drop the half-built run (a source run that could not be read)."""
        shutil.rmtree(self.work, ignore_errors=True)

