"""``aim convert tensorboard LOGDIR``: TensorBoard event files as runs (docs/convert.md).

Which folders are runs, as Aim's converter has it: a folder of event files at depth 1 under
LOGDIR is a run; at depth 2 or more, the folder above is the run and the event files' folder
names the context (``{"entry": "train"}``: ``logs/exp1/train/events...`` and
``logs/exp1/val/events...`` are one run ``exp1`` with two entries). Event files directly in
LOGDIR make a run of LOGDIR itself.

What is read, with the tensorboard package's own reader (``EventFileLoader``, no TensorFlow):
scalars (``simple_value``, and scalar tensors of the scalars plugin, float64 bit for bit) as
metrics; images (``add_image``, and TF2's image tensors) as ``Image``, their PNG or JPEG kept as
it is; audio (``add_audio``, TF2's audio tensors) as ``Audio``, the WAV kept; text
(``add_text``) as ``Text``. Each value at its step with its ``wall_time``. Histograms (their
buckets are of unequal width, which ``Distribution`` does not hold), hparams, graphs and other
plugins are counted as skipped. Each run gets the param ``tensorboard_logdir`` (its folder), its experiment
is the name given (default ``tensorboard``) and its name the folder's path under LOGDIR.
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim.core import events as ev
from aim.errors import require
from aim.sdk.convert.builder import Progress, RunBuilder, source_hash
from aim.sdk.convert.report import ConvertReport
from aim.sdk.objects.audio import Audio
from aim.sdk.objects.image import Image
from aim.sdk.objects.text import Text
from aim.sdk.store import RepoStore

EVENT_FILE_MARK = "tfevents"
SCALAR_PLUGINS = ("", "scalars")
TENSOR_PLUGINS = (*SCALAR_PLUGINS, "images", "audio", "text")


@dataclass
class TbRun:
    """One run to import: its folder and its event files, each with its context."""

    folder: Path
    name: str
    files: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)


def find_runs(logdir: Path, flat: bool = False) -> list[TbRun]:
    """The runs under ``logdir`` (see the module docstring), sorted by name. ``flat`` (Aim's
    ``--flat``): every folder of event files is a run of its own, with no ``entry`` context."""
    logdir = logdir.absolute()
    runs: dict[Path, TbRun] = {}
    for root, dirs, files in os.walk(logdir):
        dirs.sort()
        for name in sorted(files):
            if EVENT_FILE_MARK not in name:
                continue
            rel = Path(root).relative_to(logdir).parts
            if len(rel) >= 2 and not flat:
                folder, context = logdir.joinpath(*rel[:-1]), {"entry": rel[-1]}
            else:
                folder, context = Path(root), {}
            run = runs.get(folder)
            if run is None:
                shown = folder.relative_to(logdir).as_posix()
                run = runs[folder] = TbRun(folder, shown if shown != "." else logdir.name)
            run.files.append((Path(root) / name, context))
    return sorted(runs.values(), key=lambda r: r.name)


def _loader() -> Any:
    module = require("tensorboard.backend.event_processing.event_file_loader",
                     integration="aim convert tensorboard", extra="tensorboard", package="tensorboard")
    return module.EventFileLoader


def _values(path: Path, skipped: Callable[[], None]) -> Iterator[tuple[str, int, float, Any]]:
    """``(tag, step, wall_time, value)`` of every value this importer maps in one event file: a
    number, or objects (an ``Image``, ``Audio`` or ``Text``, or a list of them)."""
    from tensorboard.util import tensor_util

    for event in _loader()(str(path)).Load():
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            plugin = value.metadata.plugin_data.plugin_name
            mapped: Any = None
            if value.HasField("simple_value"):
                mapped = float(value.simple_value)
            elif value.HasField("image"):  # add_image: one PNG, kept as it is
                mapped = _image(value.image.encoded_image_string)
            elif value.HasField("audio"):  # add_audio: one WAV, kept as it is
                mapped = _audio(value.audio.encoded_audio_string, "")
            elif value.HasField("tensor") and plugin in TENSOR_PLUGINS:
                mapped = _tensor(plugin, tensor_util.make_ndarray(value.tensor))
                if isinstance(mapped, list) and len(mapped) == 1:
                    mapped = mapped[0]  # one image or clip (add_image, add_audio): not a list of one
            if mapped is None:
                skipped()  # histograms, hparams, graphs, PR curves...: not mapped
            else:
                yield value.tag, event.step, event.wall_time, mapped


def _image(data: bytes) -> Image | None:
    # The stored PNG or JPEG as it is: its size, mode and format are read from the bytes.
    try:
        return Image._from_stored(data, {})
    except Exception:  # not an image PIL reads: counted as skipped, the rest imported
        return None


def _audio(data: bytes, caption: str) -> Audio | None:
    # The WAV as it is; its rate from its own header (the loader's tensor form does not keep it).
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate = wav.getframerate()
    except (wave.Error, EOFError):
        return None
    return Audio._from_stored(data, {"format": "wav", "caption": caption, "rate": rate})


def _tensor(plugin: str, array: Any) -> Any:
    """A tensor summary of a plugin mapped here (TF2's ``tf.summary`` and torch's text): a
    scalar, a list of images (``[width, height, *encoded]``), of audio clips (``[[wav, label],
    ...]``) or a text; None when its shape is not one of those."""
    if plugin in SCALAR_PLUGINS:
        return array.reshape(()).item() if array.size == 1 and array.dtype.kind in "fiu" else None
    if array.dtype.kind not in "OSU":
        return None
    flat = [v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist()]
    if plugin == "images":
        images = [_image(b) for b in flat[2:]]
        return images if images and all(i is not None for i in images) else None
    if plugin == "audio":  # [clip, ...], or [[clip, label], ...]
        labelled = array.ndim == 2 and array.shape[1] == 2
        pairs = zip(flat[0::2], flat[1::2]) if labelled else ((c, b"") for c in flat)
        clips = [_audio(clip, label.decode("utf-8", "replace")) for clip, label in pairs]
        return clips if clips and all(c is not None for c in clips) else None
    if plugin == "text" and len(flat) == 1:
        return Text(flat[0].decode("utf-8", "replace"))
    return None


def convert_tensorboard(repo: RepoStore, logdir: str | os.PathLike[str], experiment: str = "tensorboard",
                        progress: Progress | None = None, flat: bool = False) -> ConvertReport:
    """Import every run under ``logdir`` not imported yet (``flat``: see ``find_runs``); see the
    module docstring."""
    root = Path(logdir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}")
    _loader()  # the missing extra is said before anything is written
    report = ConvertReport("tensorboard", str(root))
    runs = find_runs(root, flat)
    for done, tb in enumerate(runs, 1):
        run_hash = source_hash("tensorboard", str(tb.folder.absolute()))
        if RunBuilder.exists(repo, run_hash):
            report.already += 1
        else:
            _import_run(repo, tb, run_hash, experiment, report)
        if progress is not None:
            progress(done, len(runs))
    return report


def _import_run(repo: RepoStore, tb: TbRun, run_hash: str, experiment: str, report: ConvertReport) -> None:
    builder = RunBuilder(repo, run_hash)
    try:
        points: list[tuple[float, int, str, dict[str, Any], Any]] = []

        def skip() -> None:
            report.skipped += 1

        for path, context in tb.files:
            for tag, step, wall_time, value in _values(path, skip):
                points.append((wall_time, step, tag, context, value))
        points.sort(key=lambda p: (p[0], p[1]))  # the order the source recorded them in
        first = points[0][0] if points else os.stat(tb.folder).st_mtime
        last = points[-1][0] if points else first
        builder.start(round(first, 3), experiment, tb.name)
        builder.param("tensorboard_logdir", str(tb.folder.absolute()), round(first, 3))
        for wall_time, step, tag, context, value in points:
            if isinstance(value, (int, float)):
                builder.metric(tag, value, step, wall_time, context)
            else:
                many = isinstance(value, list)
                builder.objects(tag, value if many else [value], step, wall_time, context, is_list=many)
        builder.finish(ev.STATUS_FINISHED, round(last, 3))
        builder.commit()
    except Exception as exc:  # one unreadable source run is reported, never the whole import
        builder.abort()
        report.failed(str(tb.folder), exc)
        return
    report.imported(builder.points)
