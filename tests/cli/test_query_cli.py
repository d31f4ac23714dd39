"""AimQL on the command line (issue 15): `aim runs query-metrics`, and `--query` on `export` and
`upload`, through the real entry point."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aim import Run
from tests.conftest import run_cli
from tests.remote.conftest import CREDS, s3_client

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def make_run(repo: Path, experiment: str, lr: float, losses: list[float], **extra: float) -> str:
    with Run(repo=repo, experiment=experiment, **QUIET) as run:
        run["hparams"] = {"lr": lr}
        for loss in losses:
            run.track(loss, name="loss", context={"subset": "train"})
        for name, value in extra.items():
            run.track(value, name=name, context={"subset": "val"} if name == "loss_val" else None)
    return run.hash


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Two runs: cifar (loss 1.0, 0.5, 0.25 on train; NaN on val; acc 7) and mnist (loss 2.0)."""
    p = tmp_path_factory.mktemp("query") / "repo"
    a = make_run(p, "cifar", 0.1, [1.0, 0.5, 0.25], loss_val=math.nan, acc=7)
    b = make_run(p, "mnist", 0.01, [2.0])
    return p, a, b


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0].startswith("error: ") and needle in proc.stderr, proc.stderr


def qm(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("runs", "query-metrics", *args, "--repo", str(repo))


# --- aim runs query-metrics -----------------------------------------------------------------------
def test_query_metrics_prints_a_table_of_the_matching_sequences(repo):
    p, a, b = repo
    proc = ok(qm(p, 'metric.name == "loss" or metric.name == "loss_val"'))
    assert proc.stdout.splitlines() == [
        "HASH                      EXPERIMENT  METRIC    CONTEXT             POINTS  LAST STEP  LAST VALUE",
        f'{a}  cifar       loss      {{"subset":"train"}}  3       2          0.25',
        f'{a}  cifar       loss_val  {{"subset":"val"}}    1       0          NaN',
        f'{b}  mnist       loss      {{"subset":"train"}}  1       0          2.0',
    ]
    assert proc.stderr == "3 sequences in 2 runs\n"
    # metric.* and run.* together; --repo on the group works too.
    both = ok(run_cli("runs", "--repo", str(p), "query-metrics",
                      'metric.last < 1 and metric.count > 1 and run.hparams.lr > 0.05'))
    assert both.stdout.splitlines()[1:] == [
        f'{a}  cifar       loss    {{"subset":"train"}}  3       2          0.25']
    assert both.stderr == "1 sequence in 1 run\n"


def test_query_metrics_json_is_one_object_per_line(repo):
    p, a, b = repo
    lines = ok(qm(p, "--json")).stdout.splitlines()  # no EXPR: every sequence
    assert [json.loads(line) for line in lines] == [
        {"hash": a, "experiment": "cifar", "name": "acc", "context": {}, "points": 1, "last_step": 0,
         "last_value": 7},
        {"hash": a, "experiment": "cifar", "name": "loss", "context": {"subset": "train"}, "points": 3,
         "last_step": 2, "last_value": 0.25},
        {"hash": a, "experiment": "cifar", "name": "loss_val", "context": {"subset": "val"}, "points": 1,
         "last_step": 0, "last_value": "NaN"},
        {"hash": b, "experiment": "mnist", "name": "loss", "context": {"subset": "train"}, "points": 1,
         "last_step": 0, "last_value": 2.0},
    ]
    ctx = ok(qm(p, 'metric.context.subset == "val"', "--json")).stdout
    assert [json.loads(line)["name"] for line in ctx.splitlines()] == ["loss_val"]


def test_query_metrics_with_no_match_prints_the_header_only(repo):
    p, _, _ = repo
    proc = ok(qm(p, 'metric.name == "nothing"'))
    assert proc.stdout.splitlines() == ["HASH  EXPERIMENT  METRIC  CONTEXT  POINTS  LAST STEP  LAST VALUE"]
    assert proc.stderr == "0 sequences in 0 runs\n"
    assert ok(qm(p, 'metric.name == "nothing"', "--json")).stdout == ""


@pytest.mark.parametrize("query,needle", [
    ('metric.name ==', "invalid query at column"),
    ("metric.__class__", "not allowed"),
    ("open('x')", "calling 'open' is not allowed"),
    ("foo.bar", "invalid query"),
])
def test_a_bad_query_is_one_line_and_exit_1(repo, query, needle):
    p, _, _ = repo
    for args in ((query,), (query, "--json")):
        proc = qm(p, *args)
        one_line_error(proc, 1, needle)
        assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1


def test_query_metrics_without_a_repository_is_an_error(tmp_path):
    one_line_error(qm(tmp_path / "missing", ""), 1, "no aim repository")


def test_query_metrics_reads_the_index_only(repo):
    # Points live in the series store (aim.sdk.series) and the logs (zstandard): a command that
    # never imports either cannot have read them, however big the runs.
    p, _, _ = repo
    proc = ok(run_cli("runs", "query-metrics", "--repo", str(p), env={"PYTHONPROFILEIMPORTTIME": "1"}))
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "aim.sdk.sequence_query" in imported  # the probe sees what was imported
    for module in ("aim.sdk.series", "aim.sdk.run", "zstandard", "numpy"):
        assert module not in imported, module


# --- aim runs export --query ----------------------------------------------------------------------
def exported_runs(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The runs in an export's CSV, in the order they come."""
    return list(dict.fromkeys(r["run"] for r in csv.DictReader(io.StringIO(ok(proc).stdout))))


def test_export_query_chooses_the_runs(repo):
    p, a, b = repo
    ex = lambda *args: run_cli("runs", "export", *args, "--repo", str(p))  # noqa: E731
    assert exported_runs(ex("--query", "run.hparams.lr < 0.05")) == [b]
    assert exported_runs(ex("-q", 'run.metrics["loss", {"subset": "train"}].last < 1')) == [a]
    assert exported_runs(ex("--query", "True")) == [a, b]
    # With selectors the query narrows them; a prefix works as for rm.
    assert exported_runs(ex(a[:8], b, "--query", 'run.experiment == "mnist"')) == [b]
    assert exported_runs(ex("*", "--experiment", "cifar")) == [a]
    params = ok(ex("--params", "--query", 'run.experiment == "cifar"', "--format", "jsonl")).stdout
    assert [json.loads(line) for line in params.splitlines()] == [{"run": a, "key": "hparams.lr", "value": 0.1}]
    # Matching nothing exports nothing (the header), successfully.
    assert ok(ex("--query", "run.hparams.lr > 1")).stdout == "run,name,context,step,epoch,value,time\n"


def test_export_bad_query_or_selector_writes_nothing(repo, tmp_path):
    p, a, _ = repo
    out = tmp_path / "out.csv"
    proc = run_cli("runs", "export", "--query", "run.hparams.lr <", "-o", str(out), "--repo", str(p))
    one_line_error(proc, 1, "invalid query at column")
    assert len(proc.stderr.splitlines()) == 1 and not out.exists()
    proc = run_cli("runs", "export", a, "0" * 24, "-o", str(out), "--repo", str(p))
    one_line_error(proc, 1, f"no run {'0' * 24}")
    assert not out.exists()
    # Nothing chosen at all is a usage error, as for rm.
    usage = run_cli("runs", "export", "--repo", str(p))
    assert usage.returncode == 2 and "name at least one run" in usage.stderr


# --- aim runs upload --query ----------------------------------------------------------------------
def bucket_runs(endpoint: str, bucket: str) -> set[str]:
    """The run hashes with segments in the bucket (empty when there is no bucket)."""
    client = s3_client(endpoint)
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        return set()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="runs/").get("Contents", [])
    return {obj["Key"].split("/")[1] for obj in listed}


def upload(p: Path, bucket: str, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("runs", "upload", bucket, "--endpoint-url", endpoint, *args, "--repo", str(p), env=CREDS)


def test_upload_query_ships_only_the_matching_runs(repo, s3_server):
    p, a, b = repo
    one_line_error(upload(p, "t-query-bad", s3_server, "--query", "run.lr >"), 1, "invalid query")
    assert "t-query-bad" not in {b["Name"] for b in s3_client(s3_server).list_buckets().get("Buckets", [])}
    none = ok(upload(p, "t-query-none", s3_server, "--query", "run.hparams.lr > 1", "--json"))
    assert json.loads(none.stdout)["runs"] == 0 and bucket_runs(s3_server, "t-query-none") == set()
    one = ok(upload(p, "t-query-one", s3_server, "--query", 'run.experiment == "cifar"', "--json"))
    assert json.loads(one.stdout)["runs"] == 1 and json.loads(one.stdout)["new_segments"] == 1
    assert bucket_runs(s3_server, "t-query-one") == {a}
    # --run and the query together: the query narrows the named runs.
    both = ok(upload(p, "t-query-one", s3_server, "--run", a, "--run", b, "-q", "run.hparams.lr < 0.05"))
    assert "uploaded 1 new segment " in both.stdout and "of 1 run " in both.stdout
    assert bucket_runs(s3_server, "t-query-one") == {a, b}


def test_upload_follow_evaluates_the_query_each_round(tmp_path, s3_server):
    p = tmp_path / "repo"
    first = make_run(p, "keep", 0.1, [1.0])
    make_run(p, "skip", 0.1, [1.0])
    follow = subprocess.Popen(
        [sys.executable, "-m", "aim", "runs", "upload", "t-query-follow", "--endpoint-url", s3_server,
         "--follow", "--interval", "0.2", "--json", "-q", 'run.experiment == "keep"', "--repo", str(p)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **CREDS})
    try:
        assert json.loads(follow.stdout.readline())["runs"] == 1
        later = make_run(p, "keep", 0.2, [2.0])  # created after the first round: still chosen
        make_run(p, "skip", 0.2, [2.0])
        deadline = time.monotonic() + 30
        while bucket_runs(s3_server, "t-query-follow") != {first, later} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bucket_runs(s3_server, "t-query-follow") == {first, later}
    finally:
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=30)
    assert follow.returncode == 0 and "Traceback" not in err
