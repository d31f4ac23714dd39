"""Run the asyncio and trio examples of docs/async.md as real scripts, then read their runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from aim import Repo

DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = re.compile(r"```python\n# example: (?P<name>[\w-]+)\n(?P<body>.*?)```", re.S)


def examples() -> dict[str, str]:
    return {m["name"]: m["body"] for m in EXAMPLE.finditer((DOCS / "async.md").read_text())}


def test_the_doc_has_both_examples():
    assert set(examples()) == {"asyncio", "trio"}


@pytest.mark.parametrize("name", ["asyncio", "trio"])
def test_example_runs(tmp_path, name):
    script = tmp_path / f"example_{name}.py"  # not asyncio.py: it would shadow the module
    script.write_text(examples()[name])
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (row,) = Repo(tmp_path).list_runs()
    assert row["status"] == "finished"
    run = Repo(tmp_path).get_run(row["hash"])
    if name == "asyncio":
        assert "last loss 0.01" in proc.stdout and "runs 1" in proc.stdout
        assert run.get_metric("loss", {"subset": "train"}).steps == list(range(100))
    else:
        assert "status finished" in proc.stdout
        assert run.get_metric("accuracy", {"subset": "train"}).steps == list(range(50))
        assert run.get_metric("accuracy", {"subset": "val"}).values == [i * 0.5 for i in range(10)]
