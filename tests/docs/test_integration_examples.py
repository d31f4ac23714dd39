"""Run every example of docs/integrations.md as a real script in an empty folder, then read the
run it made: the printed hash, the status, and the metrics with their contexts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aim import Repo

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
SECTION = re.compile(r"^## (?P<title>.+?)\n(?P<body>.*?)(?=^## |\Z)", re.S | re.M)
CODE = re.compile(r"```python\n(?P<code>.*?)```", re.S)

# (metric name, context items) pairs each example's run must hold: Aim's shapes.
TRAIN, VAL, EVAL, TEST = ((("subset", s),) for s in ("train", "val", "eval", "test"))
EXPECTED = {
    "PyTorch Lightning": {("loss", TRAIN), ("loss", VAL)},
    "Hugging Face Transformers": {("loss", ()), ("loss", EVAL), ("loss", TEST)},
    "Keras": {("loss", TRAIN), ("loss", VAL), ("loss", TEST)},
    "XGBoost": {("rmse", (("data_name", "train"),)), ("rmse", (("data_name", "eval"),))},
    "LightGBM": {("binary_logloss", (("data_name", "train"),)), ("binary_logloss", (("data_name", "valid"),))},
}


def examples() -> dict[str, str]:
    found = {}
    for m in SECTION.finditer(DOC.read_text()):
        code = CODE.search(m["body"])
        if code:
            found[m["title"].strip()] = code["code"]
    return found


def test_the_doc_has_one_example_per_integration():
    assert set(examples()) == set(EXPECTED)


@pytest.mark.parametrize("title", sorted(EXPECTED))
def test_example_runs_and_tracks(tmp_path: Path, title: str) -> None:
    script = tmp_path / "example.py"
    script.write_text(examples()[title])
    env = {**os.environ, "KERAS_BACKEND": "torch", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = re.search(r"^run ([0-9a-f]{24})$", proc.stdout, re.M)
    assert printed, f"the example printed no run hash: {proc.stdout[-2000:]}"
    (row,) = Repo(tmp_path).list_runs()  # the default repository is the folder it ran in
    assert row["hash"] == printed[1] and row["status"] == "finished"
    run = Repo(tmp_path).get_run(row["hash"])
    pairs = {(name, tuple(sorted(ctx.items()))) for name, ctx, _run in run.iter_metrics_info()}
    assert EXPECTED[title] <= pairs, f"missing {EXPECTED[title] - pairs}; the run has {sorted(pairs, key=str)}"
