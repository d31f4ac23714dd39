"""Run every shell recipe of docs/format.md with the real zstd and jq, and check its output."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from aim import Repo, Run
from aim.sdk.log import iter_events

DOCS = Path(__file__).resolve().parents[2] / "docs"
RECIPE = re.compile(r"```sh\n# recipe: (?P<name>[\w-]+)\n(?P<body>.*?)```", re.S)

pytestmark = pytest.mark.skipif(
    shutil.which("zstd") is None or shutil.which("jq") is None,
    reason="needs the zstd and jq commands (make test installs them: tools/ensure_cli_tools.sh)",
)


def recipes() -> dict[str, str]:
    found = {m["name"]: m["body"] for m in RECIPE.finditer((DOCS / "format.md").read_text())}
    assert found, "docs/format.md has no recipes"
    return found


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    runs = []
    for k in range(3):
        # No system sampling: a sample (the first comes within a second) would change the counts.
        with Run(repo=root, experiment="docs", system_tracking_interval=None) as run:
            run["hparams"] = {"lr": 0.1 * (k + 1), "opt": {"name": "adam"}}
            run["hparams", "lr"] = 0.5 * (k + 1)
            for i in range(20):
                run.track(1.0 / (i + 1 + k), name="loss", context={"subset": "train"})
            run.track(0.9, name="loss", step=3, context={"subset": "train"})  # rewrite of a step
            run.track(math.nan, name="acc", step=0)
            # Terminal capture: under pytest it tees sys.stdout/sys.stderr (Python level).
            print(f"epoch done {k}", flush=True)
            sys.stderr.write("\r 50%|#####     |\r100%|##########|\n")
            sys.stderr.flush()
        runs.append(run.hash)
    return root, runs


def _run(body: str, cwd: Path, run_hash: str) -> list:
    # PATH: the system's tools plus this environment's `aim` command.
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin:/usr/local/bin"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", body], cwd=cwd, capture_output=True,
                          text=True, env={"RUN": run_hash, "PATH": path})
    assert proc.returncode == 0, proc.stderr
    return [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def check_terminal_output(out, root, runs):
    assert out[0] == {"stream": "stdout", "line": "epoch done 0"}
    assert {"stream": "stderr", "line": "100%|##########|"} in out
    assert not any("50%" in o["line"] for o in out)  # replaced states are not shown


def check_follow_loss(out, root, runs):
    stored = [e for e in iter_events(Repo(root).layout.segment_paths(runs[0]))
              if e["type"] == "metric" and e["name"] == "loss"]
    assert out == [{"step": e["step"], "value": e["value"]} for e in stored] and len(out) == 21


def check_export_csv(out, root, runs):
    loss = Run(runs[0], repo=root, read_only=True).get_metric("loss", {"subset": "train"})
    assert out == [{"name": "loss", "step": s, "value": v} for s, v in zip(loss.steps[:3], loss.values[:3])]


def check_all_events(out, root, runs):
    stored = list(iter_events(Repo(root).layout.segment_paths(runs[0])))
    assert [e["seq"] for e in out] == [e["seq"] for e in stored]


def check_count_by_type(out, root, runs):
    (counts,) = out
    assert {c["type"]: c["count"] for c in counts} == {
        "run.started": 1, "param.set": 2, "metric": 22, "log.line": 2, "run.finished": 1}


def check_last_values(out, root, runs):
    (rows,) = out
    back = Run(runs[0], repo=root, read_only=True)
    by_name = {(r["name"], orjson.dumps(r["context"])): r for r in rows}
    loss = back.get_metric("loss", {"subset": "train"})
    assert by_name[("loss", b'{"subset":"train"}')]["value"] == loss.values[-1]
    assert by_name[("loss", b'{"subset":"train"}')]["step"] == loss.steps[-1] == 19
    assert by_name[("acc", b"{}")]["value"] == "NaN"


def check_params(out, root, runs):
    (params,) = out
    # The later param.set of ["hparams", "lr"] overrides the value inside the earlier tree.
    assert params == {"hparams": {"lr": 0.5, "opt": {"name": "adam"}}}
    assert params["hparams"] == Run(runs[0], repo=root, read_only=True)["hparams"]


def check_final_loss_all_runs(out, root, runs):
    got = {r["run"]: r["loss"] for r in out}
    assert set(got) == set(runs)
    for h in runs:
        assert got[h] == Run(h, repo=root, read_only=True).get_metric("loss", {"subset": "train"}).values[-1]


CHECKS = {
    "all-events": check_all_events,
    "count-by-type": check_count_by_type,
    "last-values": check_last_values,
    "params": check_params,
    "follow-loss": check_follow_loss,
    "export-csv": check_export_csv,
    "terminal-output": check_terminal_output,
    "final-loss-all-runs": check_final_loss_all_runs,
}


def test_every_recipe_has_a_check():
    assert set(recipes()) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_recipe(repo, name):
    root, runs = repo
    CHECKS[name](_run(recipes()[name], root, runs[0]), root, runs)
