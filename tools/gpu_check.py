"""Check aim's GPU sampling on this machine: is NVML there, which GPUs are visible, what they read.

    python tools/gpu_check.py [--json] [--samples N] [--interval SECONDS] [--verbose]

Prints whether NVML is available (and why not), the devices visible under
``CUDA_VISIBLE_DEVICES`` (numbered as torch numbers them: the ``gpu`` context of the metrics),
then ``--samples`` samples (3) ``--interval`` seconds apart (1), one line per device.
``--json`` prints one JSON object instead. Exits 0 whether or not there is a GPU; on a machine
without one it says NVML is unavailable. ``--verbose`` shows aim's debug log on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from aim.integrations.gpu import GPU_METRICS, GpuSampler

LABELS = dict(zip(GPU_METRICS, (("util", "%"), ("memory", "%"), ("power", "W"), ("temp", "C"))))


def _binding() -> str | None:
    for dist in ("nvidia-ml-py", "nvidia-ml-py3", "pynvml"):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def collect(samples: int, interval: float) -> dict[str, Any]:
    """Everything the check reports, as plain data."""
    sampler = GpuSampler.shared()
    report: dict[str, Any] = {
        "available": sampler.available,
        "reason": sampler.reason,
        "binding": _binding(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "devices": [{"index": d.index, "selector": d.selector, "uuid": d.uuid, "name": d.name}
                    for d in sampler.devices],
        "samples": [],
    }
    if sampler.available:
        start = time.monotonic()
        for i in range(samples):
            if i:
                time.sleep(interval)
            values = sampler.sample()
            report["samples"].append({"t": round(time.monotonic() - start, 3),
                                      "values": [[name, ctx, value] for name, ctx, value in values]})
    sampler.close()
    return report


def render(report: dict[str, Any]) -> str:
    """The report as readable lines."""
    lines = []
    cvd = report["cuda_visible_devices"]
    cvd_text = "unset" if cvd is None else repr(cvd)
    if report["available"]:
        lines.append(f"NVML: available ({report['binding'] or 'binding version unknown'}); "
                     f"CUDA_VISIBLE_DEVICES {cvd_text}; {len(report['devices'])} visible device(s)")
    else:
        lines.append(f"NVML: unavailable: {report['reason']}")
        lines.append(f"  (binding: {report['binding'] or 'not installed'}; CUDA_VISIBLE_DEVICES {cvd_text})")
    for d in report["devices"]:
        lines.append(f"  [{d['index']}] {d['name'] or '?'}  {d['uuid'] or '?'}  (selected by {d['selector']})")
    for n, s in enumerate(report["samples"], 1):
        lines.append(f"sample {n} (t={s['t']:.1f}s):")
        per_gpu: dict[int, dict[str, float]] = {d["index"]: {} for d in report["devices"]}
        for name, ctx, value in s["values"]:
            per_gpu.setdefault(ctx["gpu"], {})[name] = value
        for gpu, values in sorted(per_gpu.items()):
            parts = []
            for name, (label, unit) in LABELS.items():
                parts.append(f"{label} {values[name]:g} {unit}" if name in values else f"{label} n/a")
            lines.append(f"  gpu {gpu}: " + ", ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--samples", type=int, default=3, help="how many samples (3)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples (1)")
    parser.add_argument("--verbose", action="store_true", help="aim's debug log on stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        logging.getLogger("aim").setLevel(logging.DEBUG)
    report = collect(max(0, args.samples), max(0.0, args.interval))
    print(json.dumps(report) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
