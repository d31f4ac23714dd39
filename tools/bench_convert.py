"""Benchmarks of the importers for ``tools/bench.py`` (issue 19).

``convert_tensorboard``
    One event file of ``--convert-points`` (200,000) scalars in two tags, written with the
    tensorboard package's own ``EventFileWriter``. The floor is what any importer must do:
    read every event with ``EventFileLoader`` and take each scalar out. Then
    ``convert_tensorboard`` into a new repository (read, validate, write the log, index).
    Reports both times, points/s and ``ratio`` = convert / floor. Target: ratio <= 4.
``convert_aim3``
    An Aim 3.29.1 repository with one run of ``--convert-points`` metric points in two
    sequences, written by Aim 3 itself with the venv the tests make (``.cache/aim3-venv``;
    skipped, and said so, when it is not there: run ``tests/convert/test_aim3.py`` once). The
    floor is reading every key and value of the run's two RocksDB stores with ``aimrocks``.
    Then ``convert_aim3``. Same report; target: ratio <= 25 (the floor decodes nothing: the
    import decodes every key and value in Python, Aim 3's own reader does it in Cython).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_TB_RATIO = 4.0
TARGET_AIM3_RATIO = 25.0
AIM3_WRITER = """
import sys
from aim import Run
run = Run(repo=sys.argv[1], experiment="bench", log_system_params=False, system_tracking_interval=None,
          capture_terminal_logs=False)
for i in range(int(sys.argv[2]) // 2):
    run.track(i * 0.001, name="loss", step=i, context={"subset": "train"})
    run.track(i * 0.002, name="acc", step=i)
run.close()
"""


def _report(name: str, points: int, floor: float, seconds: float, target: float,
            emit: Callable[[dict[str, Any]], None], log: Callable[[str], None]) -> None:
    ratio = seconds / floor
    emit({"bench": name, "points": points, "floor_seconds": round(floor, 3),
          "convert_seconds": round(seconds, 3), "points_per_s": round(points / seconds),
          "ratio": round(ratio, 2), "target_ratio": target,
          "ok": ratio <= target})
    log(f"{name}: {points:,} points in {seconds:.2f} s ({points / seconds:,.0f}/s); reading them alone "
        f"{floor:.2f} s; ratio {ratio:.2f} (target <= {target})")


def bench_tensorboard(tmp: Path, points: int, emit: Callable[[dict[str, Any]], None],
                      log: Callable[[str], None]) -> None:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    from aim.sdk.convert.tensorboard import convert_tensorboard
    from aim.sdk.repo import Repo

    logdir = tmp / "tb" / "run0"
    writer = EventFileWriter(str(logdir))
    for i in range(points // 2):
        for tag in ("loss", "acc"):
            value = summary_pb2.Summary.Value(tag=tag, simple_value=i * 0.001)
            summary = summary_pb2.Summary(value=[value])
            writer.add_event(event_pb2.Event(wall_time=1.7e9 + i, step=i, summary=summary))
    writer.close()
    t0 = time.perf_counter()
    seen = 0
    for path in logdir.iterdir():
        for event in EventFileLoader(str(path)).Load():
            if event.HasField("summary"):  # the loader gives scalars as tensors of the scalars plugin
                seen += len([tensor_util.make_ndarray(v.tensor).item() for v in event.summary.value])
    floor = time.perf_counter() - t0
    repo = Repo.from_path(str(tmp / "tb-repo"), init=True)
    t0 = time.perf_counter()
    report = convert_tensorboard(repo, tmp / "tb")
    seconds = time.perf_counter() - t0
    assert report.points == seen == points, (report.points, seen)
    _report("convert_tensorboard", points, floor, seconds, TARGET_TB_RATIO, emit, log)


def bench_aim3(tmp: Path, points: int, emit: Callable[[dict[str, Any]], None],
               log: Callable[[str], None]) -> None:
    import aimrocks  # type: ignore[import-untyped]

    from aim.sdk.convert.aim3 import convert_aim3
    from aim.sdk.repo import Repo

    python = ROOT / ".cache" / "aim3-venv" / "bin" / "python"
    if not python.exists():
        log("convert_aim3: skipped: no .cache/aim3-venv (run tests/convert/test_aim3.py once to make it)")
        emit({"bench": "convert_aim3", "skipped": "no .cache/aim3-venv"})
        return
    src = tmp / "aim3"
    src.mkdir()
    # Away from this checkout: Aim 3 would import this project's `aim` from it (see the test).
    subprocess.run([str(python), "-c", AIM3_WRITER, str(src), str(points)], cwd=tmp, check=True,
                   capture_output=True, timeout=1800)
    t0 = time.perf_counter()
    keys = 0
    for store in ("meta", "seqs"):
        for chunk in (src / ".aim" / store / "chunks").iterdir():
            db = aimrocks.DB(str(chunk), aimrocks.Options(create_if_missing=False), read_only=True)
            it = db.iteritems()
            it.seek_to_first()
            keys += sum(1 for _ in it)
            del db
    floor = time.perf_counter() - t0
    repo = Repo.from_path(str(tmp / "aim3-repo"), init=True)
    t0 = time.perf_counter()
    report = convert_aim3(repo, src)
    seconds = time.perf_counter() - t0
    assert report.points == points and not report.errors, report
    log(f"convert_aim3: the floor read {keys:,} keys")
    _report("convert_aim3", points, floor, seconds, TARGET_AIM3_RATIO, emit, log)


def run(args: Any, tmp: Path, only: set[str], emit: Callable[[dict[str, Any]], None],
        log: Callable[[str], None]) -> None:
    """The ``convert_*`` benchmarks selected in ``only``."""
    if "convert_tensorboard" in only:
        bench_tensorboard(tmp, args.convert_points, emit, log)
    if "convert_aim3" in only:
        bench_aim3(tmp, args.convert_points, emit, log)
