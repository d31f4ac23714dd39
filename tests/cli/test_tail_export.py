"""aim runs tail (-f) and aim runs export, through the real entry point."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import time

from aim import Run
from tests.conftest import run_cli

LIVE = """
import sys, time
from aim import Run
run = Run(repo=sys.argv[1], flush_interval=0.05, segment_max_bytes=2048,
          system_tracking_interval=None, capture_terminal_logs=False)
print(run.hash, flush=True)
end = time.monotonic() + 2.5
i = 0
while time.monotonic() < end:
    run.track(i * 0.5, name="loss", context={"subset": "train"})
    if i % 10 == 0:
        run.track(float(i), name="acc")
    i += 1
    time.sleep(0.002)
run.close()
"""


def test_tail_follow_prints_every_event_once_in_order_and_exits_when_the_run_closes(repo_path):
    writer = subprocess.Popen([sys.executable, "-c", LIVE, str(repo_path)], stdout=subprocess.PIPE, text=True)
    run_hash = writer.stdout.readline().strip()
    tail = subprocess.Popen([sys.executable, "-m", "aim", "runs", "tail", "-f", run_hash, "--repo",
                             str(repo_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = tail.stdout.readline()
    assert writer.poll() is None  # the first event came while the run was live
    rest = tail.stdout.read()  # not communicate(): it would skip what readline() buffered
    err = tail.stderr.read()
    assert tail.wait(60) == 0, err
    assert writer.wait(30) == 0
    lines = (first + rest).splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "run.finished"
    stored = run_cli("runs", "tail", run_hash, "--repo", str(repo_path)).stdout.encode().splitlines()
    assert lines == stored  # exactly the stored lines
    assert len(list((repo_path / ".aim" / "runs" / run_hash / "events").glob("*.zst"))) > 2  # it rotated


def test_tail_into_head_exits_quietly(repo_path):
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        for i in range(20_000):
            run.track(float(i), name="loss")
    cmd = f"set -o pipefail; {sys.executable} -m aim runs tail {run.hash} --repo {repo_path} | head -n 5"
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, executable="/bin/bash", timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(proc.stdout.splitlines()) == 5


def test_tail_filters(repo_path):
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run["hp"] = {"lr": 0.1}
        for i in range(10):
            run.track(float(i), name="loss")
            run.track(float(-i), name="acc")
    h, repo = run.hash, str(repo_path)

    def tail(*args):
        proc = run_cli("runs", "tail", h, *args, "--repo", repo)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    assert [e["value"] for e in tail("--type", "metric", "--name", "loss")] == [float(i) for i in range(10)]
    assert [e["type"] for e in tail("--type", "param")] == ["param.set"]
    assert {e["type"] for e in tail("--type", "run")} == {"run.started", "run.finished"}
    assert [e["seq"] for e in tail("-n", "2")] == [21, 22]  # started, param, 20 metrics, finished
    assert [e["seq"] for e in tail("--since", "15")] == list(range(15, 23))
    bad = run_cli("runs", "tail", "zz", "--repo", repo)
    assert bad.returncode == 1 and bad.stderr.startswith("error: invalid run hash")


def test_export_csv_and_jsonl_equal_read_back_row_for_row(repo_path, tmp_path):
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run["hparams"] = {"lr": 0.01, "opt": {"name": "adam", "betas": [0.9, 0.99]}, "nan": math.nan}
        for i in range(100):
            run.track(1.0 / (i + 1), name="loss", context={"subset": "train"}, epoch=i // 10)
            if i % 10 == 0:
                run.track(float(i), name="acc", context={"subset": "val"})
        run.track(0.123, name="loss", step=99, context={"subset": "train"})  # a repeated step: last wins
        run.track(math.nan, name="gnorm")
    out = tmp_path / "m.csv"
    proc = run_cli("runs", "export", run.hash, "--output", str(out), "--repo", str(repo_path))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    back = Run(run.hash, repo=repo_path, read_only=True)
    for name, ctx, _run in back.iter_metrics_info():
        seq = back.get_metric(name, ctx)
        mine = [r for r in rows if r["name"] == name and json.loads(r["context"]) == ctx]
        assert [int(r["step"]) for r in mine] == seq.steps
        assert [float(r["value"]) for r in mine] == seq.values or name == "gnorm"
        assert [float(r["time"]) for r in mine] == seq.timestamps
        assert [int(r["epoch"]) if r["epoch"] else None for r in mine] == seq.epochs
    assert {r["run"] for r in rows} == {run.hash} and len(rows) == 100 + 10 + 1
    assert [r["value"] for r in rows if r["name"] == "gnorm"] == ["nan"]
    jl = run_cli("runs", "export", run.hash, "--format", "jsonl", "--repo", str(repo_path))
    objs = [json.loads(line) for line in jl.stdout.splitlines()]
    assert len(objs) == len(rows) and objs[0]["context"] == {"subset": "train"}
    assert [o["value"] for o in objs if o["name"] == "gnorm"] == ["NaN"]
    params = run_cli("runs", "export", run.hash, "--params", "--repo", str(repo_path))
    table = {r["key"]: json.loads(r["value"]) for r in csv.DictReader(io.StringIO(params.stdout))}
    assert table == {"hparams.lr": 0.01, "hparams.opt.name": "adam", "hparams.opt.betas": [0.9, 0.99],
                     "hparams.nan": "NaN"}


def test_export_of_an_unknown_run_is_one_line(repo_path):
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False):
        pass
    proc = run_cli("runs", "export", "0" * 24, "--repo", str(repo_path))
    assert proc.returncode == 1 and proc.stderr.startswith("error: no run") and time.time()
