"""Importing the objects (and aim.pytorch) loads none of the heavy packages they convert from."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_no_heavy_package():
    code = ("import sys, aim, aim.sdk.objects, aim.pytorch; "
            "print(sorted(m for m in ('PIL', 'numpy', 'torch', 'matplotlib', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
