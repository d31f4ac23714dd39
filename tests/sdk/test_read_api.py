"""Aim's read API by Aim's names and shapes: run times, props, sequence info, terminal logs,
log records and the run dataframe; Repo's existence, counts, sequence and param info; the
same on AsyncRepo; and the runnable examples of docs/read-api.md."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import anyio
import pytest

from aim import AsyncRepo, MissingExtraError, Repo, Run, RunClosedError
from aim.storage.context import Context

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}
DOCS = Path(__file__).resolve().parents[2] / "docs"
EXAMPLE = re.compile(r"```python\n# example: (?P<name>[\w-]+)\n(?P<body>.*?)```", re.S)
T = "<class '{}'>".format


def _record(repo_path: Path, lr: float, experiment: str = "exp") -> Run:
    with Run(repo=repo_path, experiment=experiment, **QUIET) as run:
        run["hparams"] = {"lr": lr, "layers": [64, 32], "opt": {"name": "adam", "betas": {"b1": 0.9}}}
        run["seed"] = 1
        run.add_tag("baseline")
        for step in range(5):
            run.track(1.0 / (step + 1), name="loss", context={"subset": "train"})
        run.track(0.5, name="loss", context={"subset": "val"})
        run.track(3, name="acc", step=7)
    return run


# --- Run: times and props -------------------------------------------------------------------

def test_times_while_running_and_after_close(repo_path):
    before = time.time()
    run = Run(repo=repo_path, **QUIET)
    try:
        assert run.finalized_at is None and run.end_time is None
        start = run.creation_time
        assert before - 0.002 <= start <= time.time()
        # Naive local time, as the query views give run.created_at.
        assert run.created_at == dt.datetime.fromtimestamp(start) and run.created_at.tzinfo is None
        first = run.duration
        time.sleep(0.05)
        assert first >= 0 and run.duration >= first + 0.05  # up to now while running
    finally:
        run.close()
    end = run.end_time
    assert end is not None and start <= end <= time.time()
    assert run.finalized_at == dt.datetime.fromtimestamp(end)
    assert run.duration == end - start
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert (back.created_at, back.finalized_at, back.duration) == (
        run.created_at, run.finalized_at, end - start)


def test_props_read_live_and_set_the_run(repo_path):
    run = Run(repo=repo_path, experiment="cifar", **QUIET)
    props = run.props
    assert (props.hash, props.name, props.experiment, props.tags, props.archived, props.active) == (
        run.hash, None, "cifar", [], False, True)
    props.name, props.description, props.archived = "resnet", "a try", True
    props.add_tag("a")
    props.add_tag("b")
    props.remove_tag("a")
    assert (run.name, run.description, run.archived, run.tags) == ("resnet", "a try", True, ["b"])
    assert props.creation_time == run.creation_time and props.created_at == run.created_at
    assert props.end_time is None and props.finalized_at is None
    run.close()
    back = Run(run.hash, repo=repo_path, read_only=True).props
    assert (back.name, back.description, back.archived, back.tags, back.experiment) == (
        "resnet", "a try", True, ["b"], "cifar")
    assert back.active is False and back.end_time == run.end_time and back.finalized_at == run.finalized_at
    with pytest.raises(RunClosedError):
        back.name = "other"  # a read-only run refuses, as its own setter does


# --- Run: sequence info -----------------------------------------------------------------------

def test_iter_metrics_info_gives_name_context_run(repo_path):
    run = Run(repo=repo_path, **QUIET)
    run.track(1.0, name="loss", context={"subset": "train"})
    run.track(2.0, name="loss", context={"subset": "val", "fold": 1})
    run.track(3.0, name="acc")
    infos = list(run.iter_metrics_info())  # a live writer's sequences, before any flush
    # By name, then by the context's canonical JSON (the index's order): {"fold":1,...} first.
    assert [(n, c.to_dict()) for n, c, _ in infos] == [
        ("acc", {}), ("loss", {"subset": "val", "fold": 1}), ("loss", {"subset": "train"})]
    assert all(isinstance(c, Context) and r is run for _, c, r in infos)
    assert list(run.iter_sequence_info_by_type("aim.image")) == []
    assert [n for n, _, _ in run.iter_sequence_info_by_type("*")] == ["acc", "loss", "loss"]
    run.close()
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert [(n, c) for n, c, _ in back.iter_metrics_info()] == [(n, c) for n, c, _ in infos]


def test_run_collect_sequence_info_has_aims_per_run_shape(repo_path):
    run = Run(_record(repo_path, 0.1).hash, repo=repo_path, read_only=True)
    assert run.collect_sequence_info("metric") == {"metric": [
        {"context": {}, "name": "acc", "values": {"last": 3, "last_step": 7}},
        {"context": {"subset": "train"}, "name": "loss", "values": {"last": 0.2, "last_step": 4}},
        {"context": {"subset": "val"}, "name": "loss", "values": {"last": 0.5, "last_step": 0}},
    ]}
    assert run.collect_sequence_info(("metric", "images"), skip_last_value=True) == {
        "metric": [{"context": {}, "name": "acc"}, {"context": {"subset": "train"}, "name": "loss"},
                   {"context": {"subset": "val"}, "name": "loss"}],
        "images": []}
    # The writer's own answer (before its first flush) is the same.
    with Run(repo=repo_path, **QUIET) as live:
        live.track(0.5, name="loss", context={"subset": "val"})
        live.track(3, name="acc", step=7)
        assert live.collect_sequence_info("metric") == {"metric": [
            {"context": {}, "name": "acc", "values": {"last": 3, "last_step": 7}},
            {"context": {"subset": "val"}, "name": "loss", "values": {"last": 0.5, "last_step": 0}}]}
    with pytest.raises(ValueError, match="'metrics' is not a valid Sequence"):
        run.collect_sequence_info("metrics")


# --- Run: terminal logs and log records --------------------------------------------------------

def test_terminal_logs_are_the_captured_lines_in_order(repo_path):
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=True)
    before = time.time()
    print("epoch 1", flush=True)
    sys.stderr.write("\r 50%|#####     |\r100%|##########|\n")
    sys.stderr.flush()
    print("epoch 2", flush=True)
    logs = run.get_terminal_logs()  # the writer itself: it settles the capture and flushes first
    assert logs is not None
    assert [line for line in logs if line.stream == "stdout"] == ["epoch 1", "epoch 2"]
    assert [line for line in logs if line.stream == "stderr"] == ["100%|##########|"]
    run.close()
    back = Run(run.hash, repo=repo_path, read_only=True).get_terminal_logs()
    assert back is not None and len(back) == 3 and sorted(back) == sorted(logs)
    steps, lines = back.values.sparse_list()
    assert steps == [0, 1, 2] and [line.data for line in lines] == list(back)
    assert list(back.data.items()) == list(zip(steps, lines))
    assert (back.name, back.context, back.first_step(), back.last_step()) == ("logs", {}, 0, 2)
    assert all(before - 0.002 <= ts <= run.end_time for ts in back.timestamps)


def test_a_writer_sees_what_it_printed_just_before_with_descriptor_capture(repo_path, tmp_path):
    # Outside pytest, output goes through a pipe and a pump thread: lines printed just before
    # the call may still be in the pipe. The writer lets them arrive before it reads.
    child = ("import json, sys\nfrom aim import Run\n"
             "run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=True)\n"
             "for i in range(3):\n    print(f'line {i}', flush=True)\n"
             "logs = run.get_terminal_logs()\n"
             "open(sys.argv[2], 'w').write(json.dumps(None if logs is None else list(logs)))\n"
             "run.close()\n")
    out = tmp_path / "seen.json"
    proc = subprocess.run([sys.executable, "-c", child, str(repo_path), str(out)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "AIM_CAPTURE_MODE": "fd"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["line 0", "line 1", "line 2"]  # still reaches the terminal
    assert json.loads(out.read_text()) == ["line 0", "line 1", "line 2"]


def test_terminal_logs_skip_replaced_redraws_and_keep_the_last_one(repo_path):
    # The capture's own sink: a redraw in progress is recorded as a partial line.
    run = Run(repo=repo_path, **QUIET)
    for stream, line, partial in [("stdout", " 50%", True), ("stderr", "warning", False),
                                  ("stdout", "100%", False), ("stdout", "  7%", True)]:
        run._capture_sink.record_log_line(stream, line, partial)
    run.close()
    logs = Run(run.hash, repo=repo_path, read_only=True).get_terminal_logs()
    assert list(logs) == ["warning", "100%", "  7%"]  # the one never replaced comes last
    assert [line.stream for line in logs] == ["stderr", "stdout", "stdout"]


def test_no_output_or_records_is_none_as_in_aim(repo_path):
    run = Run(_record(repo_path, 0.1).hash, repo=repo_path, read_only=True)
    assert run.get_terminal_logs() is None and run.get_log_records() is None


def test_log_records_have_level_message_time_and_extra_args(repo_path):
    run = Run(repo=repo_path, **QUIET)
    before = time.time()
    run.log_debug("d")
    run.log_info("started", lr=0.1, layers=[1, 2])
    line = sys._getframe().f_lineno - 1
    run.log_warning("w")
    run.log_error("boom", code=3, level="mine", message="m")  # names LogRecord's own arguments use
    records = run.get_log_records()  # a writer reads its own records: flushed first
    assert records is not None and len(records) == 4
    run.close()
    back = Run(run.hash, repo=repo_path, read_only=True).get_log_records()
    assert [(r.level, r.level_name, r.message) for r in back] == [
        (logging.DEBUG, "DEBUG", "d"), (logging.INFO, "INFO", "started"),
        (logging.WARNING, "WARNING", "w"), (logging.ERROR, "ERROR", "boom")]
    assert [r.extra_args for r in back] == [
        None, {"lr": 0.1, "layers": [1, 2]}, None, {"code": 3, "level": "mine", "message": "m"}]
    assert all(before - 0.002 <= r.timestamp <= run.end_time for r in back)
    assert back.values[1].logger_info == (__file__, line)
    assert back.values[1].json() == {"message": "started", "log_level": "INFO",
                                     "timestamp": back.values[1].timestamp,
                                     "args": {"lr": 0.1, "layers": [1, 2]}}
    assert back.values.indices_list() == [0, 1, 2, 3] and back.timestamps.values_list() == [
        r.timestamp for r in back]


# --- Run: dataframe ---------------------------------------------------------------------------

EXPECTED_ROW = {
    "name": "n", "description": None, "archived": False, "active": False, "experiment": "exp",
    "tags": '["baseline"]', "hparams.lr": 0.1, "hparams.layers": "[64, 32]",
    "hparams.opt.name": "adam", "hparams.opt.betas": '{"b1": 0.9}', "seed": 1,
}


def _named_run(repo_path: Path) -> Run:
    run = _record(repo_path, 0.1)
    with Run(run.hash, repo=repo_path, **QUIET) as again:
        again.name = "n"
    return Run(run.hash, repo=repo_path, read_only=True)


def test_dataframe_data_with_a_stand_in_pandas(repo_path, monkeypatch):
    # Checks the row handed to pandas (Aim's columns, params flattened three keys deep) on any
    # machine: pandas is an optional extra.
    frames: list[tuple[dict[str, Any], Any]] = []
    fake = types.ModuleType("pandas")
    fake.DataFrame = lambda data, index=None: frames.append((data, index)) or "frame"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pandas", fake)
    run = _named_run(repo_path)
    assert run.dataframe() == "frame"
    data, index = frames[-1]
    assert index == [0]
    assert list(data) == ["hash", "name", "description", "archived", "creation_time", "end_time",
                          "active", "experiment", "tags", "hparams.lr", "hparams.layers",
                          "hparams.opt.name", "hparams.opt.betas", "seed"]
    assert data["hash"] == run.hash and data["creation_time"] == run.creation_time
    assert data["end_time"] == run.end_time and data["end_time"] is not None
    assert {k: data[k] for k in EXPECTED_ROW} == EXPECTED_ROW
    run.dataframe(include_props=False)
    assert list(frames[-1][0]) == ["hash", "hparams.lr", "hparams.layers", "hparams.opt.name",
                                   "hparams.opt.betas", "seed"]
    run.dataframe(include_params=False)
    assert list(frames[-1][0])[-1] == "tags" and "seed" not in frames[-1][0]


def test_dataframe_is_a_one_row_pandas_frame(repo_path):
    frame = _named_run(repo_path).dataframe()
    assert frame.shape == (1, 14)
    assert {k: frame[k][0] for k in EXPECTED_ROW} == EXPECTED_ROW


def test_dataframe_names_the_missing_extra(repo_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if the extra were not installed
    with pytest.raises(MissingExtraError, match="pandas"):
        _named_run(repo_path).dataframe()


# --- Repo ---------------------------------------------------------------------------------------

def test_exists(tmp_path, repo_path):
    assert not Repo.exists(repo_path) and not Repo.exists(tmp_path / "nowhere")
    _record(repo_path, 0.1)
    assert Repo.exists(repo_path) and Repo.exists(repo_path / ".aim") and Repo.exists(str(repo_path))
    assert Repo(repo_path).exists(repo_path)  # a classmethod, callable on an instance too


def test_run_exists_and_total_runs_count(repo_path):
    a, b, c = (_record(repo_path, lr).hash for lr in (0.1, 0.2, 0.3))
    repo = Repo(repo_path)
    assert repo.total_runs_count() == 3
    assert repo.run_exists(a) and repo.run_exists(b)
    assert repo.delete_run(b)
    assert not repo.run_exists(b) and repo.total_runs_count() == 2
    assert repo.restore_run(b) and repo.run_exists(b) and repo.total_runs_count() == 3
    assert not repo.run_exists("0" * 24) and not repo.run_exists("not-a-hash")
    assert c in repo.list_all_runs()


def test_list_active_runs_follows_the_derived_status(repo_path):
    done = _record(repo_path, 0.1).hash
    # A writer that died without closing: its row says running, its lock is free: crashed.
    child = ("import os, sys\nfrom aim import Run\n"
             "run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)\n"
             "run.track(1.0, name='loss'); run.flush(); print(run.hash); os._exit(0)\n")
    proc = subprocess.run([sys.executable, "-c", child, str(repo_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    crashed = proc.stdout.strip()
    repo = Repo(repo_path)
    assert repo.list_active_runs() == []
    live = Run(repo=repo_path, flush_interval=60, **QUIET)  # not flushed, maybe not indexed yet
    try:
        assert repo.list_active_runs() == [live.hash]
        assert repo.run_exists(live.hash)
        live.track(1.0, name="x")
        live.flush()
        assert repo.list_active_runs() == [live.hash]
    finally:
        live.close()
    assert repo.list_active_runs() == []
    assert {r["hash"]: r["status"] for r in repo.list_runs()} == {
        done: "finished", crashed: "crashed", live.hash: "finished"}


def test_repo_collect_sequence_info_is_name_to_contexts(repo_path):
    _record(repo_path, 0.1)
    with Run(repo=repo_path, **QUIET) as other:
        other.track(1.0, name="loss", context={"subset": "test"})
        other.track(1.0, name="f1", context={"k": 1})
    repo = Repo(repo_path)
    info = repo.collect_sequence_info(("metric", "texts"))
    assert set(info) == {"metric", "texts"} and info["texts"] == {}
    key = repr
    assert {n: sorted(cs, key=key) for n, cs in info["metric"].items()} == {
        "loss": sorted([{"subset": "train"}, {"subset": "val"}, {"subset": "test"}], key=key),
        "acc": [{}], "f1": [{"k": 1}]}
    assert repo.collect_sequence_info("metric") == {"metric": info["metric"]}
    with pytest.raises(ValueError, match="'image' is not a valid Sequence"):
        repo.collect_sequence_info(("metric", "image"))
    # As Aim's: a deleted run's sequences stay until prune removes them.
    assert repo.delete_run(other.hash)
    assert "f1" in repo.collect_sequence_info("metric")["metric"]
    repo.prune()
    assert "f1" not in repo.collect_sequence_info("metric")["metric"]


def test_collect_params_info_is_aims_type_tree(repo_path):
    repo = Repo.from_path(repo_path, init=True)
    assert repo.collect_params_info() == {}
    _record(repo_path, 0.1)
    with Run(repo=repo_path, **QUIET) as other:
        other["hparams"] = {"lr": 1, "dropout": None, "empty": {}}
        other["flag"] = True
    assert repo.collect_params_info() == {
        "hparams": {
            "lr": {"__example_type__": T("int")},  # the newest run's value type
            "layers": {"__example_type__": T("list"), 0: {"__example_type__": T("int")},
                       1: {"__example_type__": T("int")}},
            "opt": {"name": {"__example_type__": T("str")}, "betas": {"b1": {"__example_type__": T("float")}}},
            "dropout": {"__example_type__": T("NoneType")},
            "empty": {},
        },
        "seed": {"__example_type__": T("int")},
        "flag": {"__example_type__": T("bool")},
    }


# --- AsyncRepo ----------------------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_repo_read_methods_match_repo(repo_path, anyio_backend):
    run = _record(repo_path, 0.1)
    sync = Repo(repo_path)
    assert await AsyncRepo.exists(repo_path) and not await AsyncRepo.exists(repo_path / "nowhere")
    repo = await AsyncRepo.from_path(repo_path)
    with anyio.fail_after(30):
        assert await repo.run_exists(run.hash) and not await repo.run_exists("0" * 24)
        assert await repo.total_runs_count() == 1
        assert await repo.list_active_runs() == []
        assert await repo.collect_sequence_info("metric") == sync.collect_sequence_info("metric")
        assert await repo.collect_params_info() == sync.collect_params_info()


# --- docs/read-api.md ---------------------------------------------------------------------------

def test_the_read_api_doc_examples_run(tmp_path):
    examples = {m["name"]: m["body"] for m in EXAMPLE.finditer((DOCS / "read-api.md").read_text())}
    assert list(examples) == ["record", "repo", "run", "dataframe", "objects"]
    out = {}
    for name, body in examples.items():
        script = tmp_path / f"example_{name}.py"
        script.write_text(body)
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        out[name] = proc.stdout.splitlines()
    assert out["record"] == ["training with lr=0.1", "training with lr=0.01"]
    assert out["repo"] == ["runs 2", "active []", "exists True",
                           "{'metric': {'acc': [{'subset': 'val'}], 'loss': [{'subset': 'train'}]}}",
                           "{'__example_type__': \"<class 'float'>\"}"]
    assert out["run"] == [
        "True True", "mnist ['baseline'] False",
        "acc {'subset': 'val'} (0, 0.9)", "loss {'subset': 'train'} (9, 0.1)",
        "{'metric': [{'context': {'subset': 'val'}, 'name': 'acc'}, "
        "{'context': {'subset': 'train'}, 'name': 'loss'}]}",
        "terminal: training with lr=0.1", "INFO started {'lr': 0.1}"]
    assert out["dataframe"] == ["['hparams.lr', 'hparams.layers'] 0.1"]
    assert out["objects"] == ["samples 1 batch 1 (255, 0, 0)", "['step 0: a cat', 'step 1: a cat']",
                              "[2, 2, 2, 2, 2] [0.0, 1.8, 3.6, 5.4, 7.2, 9.0]"]
