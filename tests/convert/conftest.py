"""Fixtures of the importers' tests: Aim 3.29.1 in a venv of its own (it is also called
``aim``), made once and kept under ``.cache/`` (git-ignored), so a run after the first starts
at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

AIM3_SPEC = ["aim==3.29.1", "plotly>=5.20"]  # plotly: Aim 3's Figure, written by the test script


@pytest.fixture(scope="session")
def aim3_python() -> Path:
    """The interpreter of a venv holding Aim 3.29.1 from the package registry."""
    venv = ROOT / ".cache" / "aim3-venv"
    stamp = venv / ".installed"
    python = venv / "bin" / "python"
    if not stamp.is_file() or stamp.read_text() != " ".join(AIM3_SPEC):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        subprocess.run([str(python), "-m", "pip", "install", "-q", *AIM3_SPEC], check=True, timeout=900,
                       env=env)
        stamp.write_text(" ".join(AIM3_SPEC))
    return python
