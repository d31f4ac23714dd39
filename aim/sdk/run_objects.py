"""What ``RunBase`` does with objects (images, texts, distributions, audio, figures).

``run.track(Image(...) or [Image, ...], name=..., step=...)``: the step is checked under the
run's lock, each object's blob is staged outside it (``storage/blobs.py``; the same bytes once
per run), then one ``object`` event holding the blobs' SHA-256s and the objects' metadata is
recorded under the lock. The flush thread writes and fsyncs the staged blobs before the frame
with that event (``RunBlobs.sync_pending``), so the event is the commit point and the training
thread does no file IO for an object. Reads fold the log's ``object``
events of one sequence (last value per step wins) and load each blob on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aim.core.encoding import context_key
from aim.core.projection import OBJ_KIND, OBJ_NEXT_STEP, OBJ_POINTS, SeqKey
from aim.core.run_state import RunState
from aim.errors import MetricValueError
from aim.sdk.objects.base import MAX_BLOB_BYTES, AimObject
from aim.sdk.store import RepoStore
from aim.storage.blobs import BLOBS_DIR, RunBlobs

if TYPE_CHECKING:
    from aim.sdk.object_sequence import ObjectSequence

MAX_OBJECTS_PER_STEP = 10_000


def tracked_objects(value: Any) -> list[AimObject] | None:
    """The objects in ``value`` (one, or a non-empty list or tuple of them), else None: a
    metric value, or something ``track`` refuses."""
    if isinstance(value, AimObject):
        return [value]
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], AimObject):
        if not all(isinstance(v, AimObject) for v in value):
            raise MetricValueError("a list tracked as objects must hold only objects (Image, Text...)")
        return list(value)
    return None


class RunObjectsMixin:
    """Tracking and reading objects (see the module docstring)."""

    _state: RunState
    _lock: threading.Lock
    _store: RepoStore
    hash: str
    _blobs: RunBlobs | None

    def _buffer_full(self) -> None:
        raise NotImplementedError  # RunBase's

    def _load_from_index(self) -> None:
        """A run listed by ``Repo.iter_runs`` reads its sequence rows (objects included) on
        first use: ask for them (``RunSequencesMixin._sequences``)."""
        _ = self._sequences  # type: ignore[attr-defined]

    def _run_blobs(self) -> RunBlobs:
        blobs = self.__dict__.get("_blobs")
        if blobs is None:
            blobs = self._blobs = RunBlobs(self._store.layout.run_dir(self.hash) / BLOBS_DIR)
        return blobs

    def _track_objects(self, objects: list[AimObject], is_list: bool, name: Any, step: Any,
                       epoch: Any, context: Mapping[str, Any] | None, ts: float) -> None:
        kinds = {o.kind for o in objects}
        if len(kinds) != 1:
            raise MetricValueError(f"one step holds objects of one kind, got {sorted(kinds)}")
        if len(objects) > MAX_OBJECTS_PER_STEP:
            raise MetricValueError(f"at most {MAX_OBJECTS_PER_STEP:,} objects per step, got {len(objects):,}")
        kind = kinds.pop()
        with self._lock:  # refused now, before any blob is written
            if self._state.check_objects(kind, name, step, epoch, context) is None:
                return  # dropped (a full disk): counted, nothing written
        if self.__dict__.get("_inert"):
            return  # recorded on rank 0 only (Run(ranks="zero")): checked, and dropped
        stored = [o._to_stored() for o in objects]
        for data, _ in stored:
            if len(data) > MAX_BLOB_BYTES:
                raise MetricValueError(f"an object of {len(data):,} bytes is more than the "
                                       f"{MAX_BLOB_BYTES:,} one object may hold")
        blobs = self._run_blobs()
        items = []
        for obj, (data, meta) in zip(objects, stored):
            sha, size = blobs.put(data, obj.compress, defer=True)  # the flush thread writes it
            item: dict[str, Any] = {"sha256": sha, "size": size, "meta": meta}
            if obj.compress:
                item["zst"] = True
            items.append(item)
        with self._lock:
            if self._state.track_objects(kind, items, is_list, name, step, epoch, context, ts):
                self._buffer_full()

    # --- reading ------------------------------------------------------------------------------
    def _object_sequence(self, kind: str, name: str,
                         context: Mapping[str, Any] | None) -> ObjectSequence | None:
        from aim.sdk.object_sequence import ObjectSequence

        key: SeqKey = (name, context_key(dict(context or {})))
        self._load_from_index()
        with self._lock:
            entry = self._state.summary.objects.get(key)
        if entry is None or entry[OBJ_KIND] != kind:
            return None
        return ObjectSequence(self, kind, name, dict(entry[3]), self._run_blobs())  # type: ignore[arg-type]

    def get_image_sequence(self, name: str, context: Mapping[str, Any] | None = None) -> ObjectSequence | None:
        """Aim's ``run.get_image_sequence``: the images tracked under ``name`` and ``context``."""
        return self._object_sequence("image", name, context)

    def get_text_sequence(self, name: str, context: Mapping[str, Any] | None = None) -> ObjectSequence | None:
        """Aim's ``run.get_text_sequence``."""
        return self._object_sequence("text", name, context)

    def get_distribution_sequence(self, name: str,
                                  context: Mapping[str, Any] | None = None) -> ObjectSequence | None:
        """Aim's ``run.get_distribution_sequence``."""
        return self._object_sequence("distribution", name, context)

    def get_audio_sequence(self, name: str, context: Mapping[str, Any] | None = None) -> ObjectSequence | None:
        """Aim's ``run.get_audio_sequence``."""
        return self._object_sequence("audio", name, context)

    def get_figure_sequence(self, name: str, context: Mapping[str, Any] | None = None) -> ObjectSequence | None:
        """Aim's ``run.get_figure_sequence``."""
        return self._object_sequence("figure", name, context)

    def iter_objects_info(self) -> Iterator[tuple[str, str, dict[str, Any], int, int]]:
        """(kind, name, context, points, last step) of every object sequence."""
        self._load_from_index()
        with self._lock:
            entries = [(k[0], dict(e[3]), e[OBJ_KIND], e[OBJ_POINTS], e[OBJ_NEXT_STEP] - 1)
                       for k, e in self._state.summary.objects.items()]
        for name, context, kind, points, last in sorted(entries, key=lambda x: (x[2], x[0])):
            yield kind, name, context, points, last

