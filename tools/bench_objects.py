"""Benchmarks of tracked objects for ``tools/bench.py`` (issue 17), each against a raw floor
measured in the same run: the same bytes made the same way and written to files, no aim.

``objects_images``
    ``run.track(Image(array), name="img", step=i)`` for ``--object-images`` (2,000) random
    64x64 RGB arrays (PNG-encoded by ``Image``), the run closed (every blob and frame on disk).
    Floor: PIL encodes the same arrays to PNG and each is written to its own file.
``objects_histograms``
    ``run.track(Distribution(samples), name="w", step=i)`` for ``--object-histograms``
    (5,000) arrays of 1,000 samples (64 bins). Floor: ``numpy.histogram`` of each, its JSON
    written to a file.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_images(tmp: Path, n: int, emit: Callable[[dict[str, Any]], None]) -> None:
    import numpy as np
    from PIL import Image as PILImage

    from aim import Image, Run

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(n)]

    def with_aim() -> None:
        with Run(repo=tmp / "objects-images", **QUIET) as run:
            for i, a in enumerate(arrays):
                run.track(Image(a), name="img", step=i)

    floor_dir = tmp / "objects-images-floor"
    floor_dir.mkdir()

    def floor() -> None:
        for i, a in enumerate(arrays):
            buf = io.BytesIO()
            PILImage.fromarray(a).save(buf, format="PNG")
            (floor_dir / f"{i}.png").write_bytes(buf.getvalue())

    floor_s = _timed(floor)
    aim_s = _timed(with_aim)
    emit({"bench": "objects_images", "images": n, "size": "64x64 RGB PNG",
          "images_per_s": round(n / aim_s), "floor_images_per_s": round(n / floor_s),
          "ratio_to_floor": round(aim_s / floor_s, 2)})


def bench_histograms(tmp: Path, n: int, emit: Callable[[dict[str, Any]], None]) -> None:
    import numpy as np

    from aim import Distribution, Run

    rng = np.random.default_rng(1)
    samples = [rng.standard_normal(1_000) for _ in range(n)]

    def with_aim() -> None:
        with Run(repo=tmp / "objects-hist", **QUIET) as run:
            for i, s in enumerate(samples):
                run.track(Distribution(s, bin_count=64), name="w", step=i)

    floor_dir = tmp / "objects-hist-floor"
    floor_dir.mkdir()

    def floor() -> None:
        for i, s in enumerate(samples):
            weights, edges = np.histogram(s, bins=64)
            body = json.dumps({"weights": weights.tolist(), "range": [edges[0], edges[-1]]})
            (floor_dir / f"{i}.json").write_text(body)

    floor_s = _timed(floor)
    aim_s = _timed(with_aim)
    emit({"bench": "objects_histograms", "histograms": n, "samples": 1_000, "bins": 64,
          "histograms_per_s": round(n / aim_s), "floor_histograms_per_s": round(n / floor_s),
          "ratio_to_floor": round(aim_s / floor_s, 2)})


def run(args: Any, tmp: Path, only: set[str], emit: Callable[[dict[str, Any]], None],
                  log: Callable[[str], None]) -> None:
    """Run the selected object benchmarks (see the module docstring)."""
    if "objects_images" in only:
        log(f"objects: {args.object_images} images")
        bench_images(tmp, args.object_images, emit)
    if "objects_histograms" in only:
        log(f"objects: {args.object_histograms} histograms")
        bench_histograms(tmp, args.object_histograms, emit)
