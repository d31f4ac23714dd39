"""The behaviour suite of Run: round trip, resume, NaN, contexts, steps, errors."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from aim import (
    InvalidRunHashError,
    MetricValueError,
    ParamTypeError,
    Repo,
    Run,
    RunClosedError,
    RunLockedError,
    RunNotFoundError,
)
from aim.errors import NotADirectoryRepoError
from aim.sdk.log import iter_events


def _events(run_or_repo, h=None):
    repo = run_or_repo.repo if h is None else run_or_repo
    h = h or run_or_repo.hash
    return list(iter_events(repo.layout.segment_paths(h)))


def test_round_trip_through_close_and_reopen(repo_path):
    run = Run(repo=repo_path, experiment="exp1")
    run["hparams"] = {"lr": 0.001, "layers": (64, 32), "opt": {"name": "adam", "betas": [0.9, 0.99]},
                      "nan": math.nan, "inf": -math.inf, "none": None, "flag": True}
    run["seed"] = 42
    run["hparams", "opt", "eps"] = 1e-8
    run.name = "baseline"
    run.description = "first try"
    run.add_tag("cnn")
    run.add_tag("small")
    run.remove_tag("small")
    for i in range(5):
        run.track(1.0 / (i + 1), name="loss", epoch=i // 2, context={"subset": "train"})
    run.track(0.5, name="loss", step=10, context={"subset": "val"})
    run.track(math.nan, name="loss", context={"subset": "val"})  # auto step continues at 11
    run.track(math.inf, name="grad", step=0)
    run.track(-math.inf, name="grad")
    run.track(np.float32(0.25), name="acc")
    run.track(np.int64(3), name="acc")
    run.track(np.array(0.75), name="acc")
    run.track({"p": 1.0, "r": 2}, step=7, context={"subset": "val"})
    h, created = run.hash, run.creation_time
    assert run.active and run.status == "running"
    run.close()
    assert not run.active

    back = Run(h, repo=repo_path, read_only=True)
    assert back["hparams"]["layers"] == [64, 32]
    assert back["hparams"]["opt"] == {"name": "adam", "betas": [0.9, 0.99], "eps": 1e-8}
    assert math.isnan(back["hparams"]["nan"]) and back["hparams"]["inf"] == -math.inf
    assert back["hparams"]["none"] is None and back["hparams"]["flag"] is True
    assert back["seed"] == 42
    assert back.name == "baseline" and back.description == "first try"
    assert back.experiment == "exp1" and back.tags == ["cnn"]
    assert back.creation_time == created and back.end_time >= created
    assert back.status == "finished" and not back.active
    train = back.get_metric("loss", {"subset": "train"})
    assert train.steps == [0, 1, 2, 3, 4]
    assert train.values == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert train.epochs == [0, 0, 1, 1, 2]
    assert all(t >= created for t in train.timestamps)
    val = back.get_metric("loss", {"subset": "val"})
    assert val.steps == [10, 11] and val.values[0] == 0.5 and math.isnan(val.values[1])
    assert back.get_metric("grad").values == [math.inf, -math.inf]
    acc = back.get_metric("acc")
    assert acc.values == [0.25, 3, 0.75] and type(acc.values[1]) is int
    assert back.get_metric("p", {"subset": "val"}).items() == [(7, 1.0)]
    assert sorted(back.metrics(), key=str) == sorted(
        [("loss", {"subset": "train"}), ("loss", {"subset": "val"}), ("grad", {}), ("acc", {}),
         ("p", {"subset": "val"}), ("r", {"subset": "val"})], key=str)
    with pytest.raises(KeyError):
        back.get_metric("loss", {"subset": "test"})


def test_resume_continues_steps_and_seq(repo_path):
    run = Run(repo=repo_path)
    for _ in range(3):
        run.track(1.0, name="m")
    h = run.hash
    run.close()
    run2 = Run(run_hash=h, repo=repo_path)
    run2.track(2.0, name="m")
    run2.close()
    events = _events(run2)
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events].count("run.resumed") == 1
    assert Run(h, repo=repo_path, read_only=True).get_metric("m").items() == [
        (0, 1.0), (1, 1.0), (2, 1.0), (3, 2.0)]
    # Each writer session has its own segment; the first one was never appended to.
    assert [p.name for p in run2.repo.layout.segment_paths(h)] == ["00000000.jsonl.zst", "00000001.jsonl.zst"]


def test_resume_with_new_experiment_moves_it(repo_path):
    run = Run(repo=repo_path, experiment="a")
    run.close()
    with Run(run.hash, repo=repo_path, experiment="b") as r2:
        assert r2.experiment == "b"
    assert Repo(repo_path).list_runs(experiment="b")[0]["hash"] == run.hash


def test_steps_explicit_repeated_and_below_counter(repo_path):
    with Run(repo=repo_path) as run:
        run.track(1.0, name="m")          # step 0
        run.track(2.0, name="m", step=5)  # moves the counter to 6
        run.track(3.0, name="m")          # step 6
        run.track(4.0, name="m", step=5)  # repeated: a new event, readers keep the last
        run.track(5.0, name="m", step=2)  # below the counter: counter stays
        run.track(6.0, name="m")          # step 7
    seq = Run(run.hash, repo=repo_path, read_only=True).get_metric("m")
    assert seq.items() == [(0, 1.0), (2, 5.0), (5, 4.0), (6, 3.0), (7, 6.0)]
    assert len([e for e in _events(run) if e["type"] == "metric"]) == 6


def test_contexts_are_independent_sequences_and_order_insensitive(repo_path):
    with Run(repo=repo_path) as run:
        run.track(1.0, name="loss", context={"subset": "train", "fold": 1})
        run.track(2.0, name="loss", context={"fold": 1, "subset": "train"})
        run.track(3.0, name="loss", context={"subset": "val", "fold": 1})
        run.track(4.0, name="loss")
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.get_metric("loss", {"fold": 1, "subset": "train"}).items() == [(0, 1.0), (1, 2.0)]
    assert back.get_metric("loss", {"subset": "val", "fold": 1}).items() == [(0, 3.0)]
    assert back.get_metric("loss").items() == [(0, 4.0)]


def test_get_metric_on_a_live_run_sees_buffered_events(repo_path):
    run = Run(repo=repo_path, flush_interval=60)
    for i in range(10):
        run.track(float(i), name="m")
    assert run.get_metric("m").steps == list(range(10))
    run.close()


def test_bad_param_raises_names_path_and_writes_nothing(repo_path):
    run = Run(repo=repo_path)
    run["ok"] = 1
    run.flush()
    before = _events(run)
    with pytest.raises(ParamTypeError, match=r"hparams\.opt\.fn"):
        run["hparams"] = {"lr": 0.1, "opt": {"fn": object()}}
    with pytest.raises(TypeError):
        run["x"] = {1: "non-str key"}
    run.flush()
    assert _events(run) == before
    with pytest.raises(KeyError):
        run["hparams"]
    run.close()
    assert Run(run.hash, repo=repo_path, read_only=True)["ok"] == 1


@pytest.mark.parametrize("value", ["0.5", None, [1.0], {"a": "x"}, True, np.array([1.0, 2.0])])
def test_bad_metric_values_raise_and_record_nothing(repo_path, value):
    with Run(repo=repo_path) as run:
        run.track(1.0, name="m")
        with pytest.raises(MetricValueError):
            run.track(value, name="m")
        run.track(2.0, name="m")
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").items() == [(0, 1.0), (1, 2.0)]


@pytest.mark.parametrize("kwargs,exc", [
    ({"name": None}, MetricValueError), ({"name": ""}, MetricValueError),
    ({"name": "m", "step": -1}, ValueError), ({"name": "m", "step": 1.5}, MetricValueError),
    ({"name": "m", "epoch": "1"}, MetricValueError), ({"name": "m", "context": ["x"]}, TypeError),
])
def test_bad_track_arguments(repo_path, kwargs, exc):
    with Run(repo=repo_path) as run, pytest.raises(exc):
        run.track(1.0, **kwargs)


def test_track_dict_is_all_or_nothing(repo_path):
    with Run(repo=repo_path) as run:
        with pytest.raises(MetricValueError):
            run.track({"a": 1.0, "b": "bad"})
        with pytest.raises(MetricValueError):
            run.track({"a": 1.0}, name="x")
    assert run.metrics() == []


def test_invalid_and_unknown_hashes(repo_path):
    Run(repo=repo_path).close()
    with pytest.raises(InvalidRunHashError):
        Run("../../etc", repo=repo_path)
    with pytest.raises(RunNotFoundError):
        Run("0" * 24, repo=repo_path)
    with pytest.raises(RunNotFoundError):
        Run("0" * 24, repo=repo_path, read_only=True)
    assert Repo(repo_path).get_run("0" * 24) is None
    with pytest.raises(InvalidRunHashError):
        Repo(repo_path).get_run("xyz")


def test_repo_path_that_is_a_file(tmp_path):
    f = tmp_path / "notadir"
    f.write_text("precious")
    with pytest.raises(NotADirectoryRepoError):
        Run(repo=f)
    assert f.read_text() == "precious"


def test_second_writer_on_a_live_run_is_refused_and_loses_nothing(repo_path):
    run = Run(repo=repo_path)
    run.track(1.0, name="m")
    with pytest.raises(RunLockedError, match="open for writing"):
        Run(run.hash, repo=repo_path)
    run.track(2.0, name="m")
    run.close()
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").values == [1.0, 2.0]


def test_read_only_and_closed_runs_refuse_writes(repo_path):
    run = Run(repo=repo_path)
    run.close()
    run.close()  # idempotent
    with pytest.raises(RunClosedError):
        run.track(1.0, name="m")
    with pytest.raises(RunClosedError):
        run["x"] = 1
    ro = Run(run.hash, repo=repo_path, read_only=True)
    with pytest.raises(RunClosedError):
        ro.add_tag("x")
    with pytest.raises(RunClosedError):
        ro.track(1.0, name="m")


def test_delete_param(repo_path):
    with Run(repo=repo_path) as run:
        run["a"] = {"b": 1, "c": 2}
        del run["a", "b"]
        with pytest.raises(KeyError):
            del run["nope"]
    assert Run(run.hash, repo=repo_path, read_only=True)["a"] == {"c": 2}


def test_threads_track_safely(repo_path):
    run = Run(repo=repo_path, max_buffered_events=1000)

    def work(k):
        for i in range(5000):
            run.track(float(i), name=f"t{k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.close()
    events = _events(run)
    assert [e["seq"] for e in events] == list(range(len(events)))
    back = Run(run.hash, repo=repo_path, read_only=True)
    for k in range(4):
        seq = back.get_metric(f"t{k}")
        assert seq.steps == list(range(5000)) and seq.values == [float(i) for i in range(5000)]


def test_backpressure_blocks_track_when_the_buffer_is_full(repo_path):
    run = Run(repo=repo_path, max_buffered_events=100, flush_interval=60)
    gate = threading.Event()
    real_write = run._writer.write

    def gated_write(data):
        gate.wait()
        return real_write(data)

    run._writer.write = gated_write  # the real write runs, only later
    done = threading.Event()

    def producer():
        for i in range(1000):
            run.track(float(i), name="m")
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not done.wait(1.0), "track should wait while the writer is stuck"
    assert len(run._state.pending) <= 100
    gate.set()
    assert done.wait(30)
    t.join()
    run.close()
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").steps == list(range(1000))


def test_several_runs_in_one_process_are_independent(repo_path):
    runs = [Run(repo=repo_path, experiment="sweep") for _ in range(4)]
    for k, run in enumerate(runs):
        run["hparams"] = {"lr": 10.0 ** -k}
        for _i in range(k + 1):
            run.track(float(k), name="loss")
    for run in runs:
        run.close()
    repo = Repo(repo_path)
    assert sorted(repo.list_all_runs()) == sorted(r.hash for r in runs)
    for k, run in enumerate(runs):
        back = repo.get_run(run.hash)
        assert back["hparams"] == {"lr": 10.0 ** -k}
        assert back.get_metric("loss").steps == list(range(k + 1))


def test_repo_open_default_and_iter(tmp_path, monkeypatch):
    with pytest.raises(Exception, match="no aim repository"):
        Repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    r = Run()  # default repo: created in the working directory
    r.close()
    assert (tmp_path / ".aim" / "VERSION").exists()
    monkeypatch.chdir(tmp_path / "sub")
    repo = Repo.default_repo()
    assert repo.path == tmp_path / ".aim"  # found in a parent
    assert Repo.from_path(tmp_path / ".aim") == Repo.from_path(tmp_path) == repo
    assert [x.hash for x in repo.iter_runs()] == [r.hash]
    assert repo.get_run(r.hash).hash == r.hash


def test_contexts_that_compare_equal_but_serialize_differently_stay_apart(repo_path):
    with Run(repo=repo_path) as run:
        for ctx in ({"fold": 1}, {"fold": True}, {"fold": 1.0}, {"fold": "1"}, {"fold": 1}):
            run.track(1.0, name="m", context=ctx)
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert sorted(str(c) for _, c in back.metrics()) == sorted(
        ["{'fold': 1}", "{'fold': True}", "{'fold': 1.0}", "{'fold': '1'}"])
    assert back.get_metric("m", {"fold": 1}).steps == [0, 1]
    assert back.get_metric("m", {"fold": True}).steps == [0]


def test_a_failing_disk_warns_once_keeps_events_and_close_reports_it(repo_path):
    run = Run(repo=repo_path, flush_interval=0.05)
    run.track(1.0, name="m")
    run.flush()
    real_write = run._writer.write
    failing = [True]

    def write(data):
        if failing[0]:
            raise OSError(28, "No space left on device")
        return real_write(data)

    run._writer.write = write  # the OS error a full disk gives, at the real call site
    with pytest.warns(RuntimeWarning, match="No space left"):
        run.track(2.0, name="m")
        with pytest.raises(RunClosedError, match="not written"):
            run.flush(timeout=1.0)
    failing[0] = False  # space freed: the kept events are written on the next attempt
    run.track(3.0, name="m")
    run.flush(timeout=10)
    run.close()
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").values == [1.0, 2.0, 3.0]


def test_close_with_a_dead_disk_raises_and_returns(repo_path):
    run = Run(repo=repo_path, flush_interval=0.05)
    run.track(1.0, name="m")
    run.flush()

    def write(data):
        raise OSError(28, "No space left on device")

    run._writer.write = write
    run.track(2.0, name="m")
    with pytest.warns(RuntimeWarning), pytest.raises(RunClosedError, match="not written"):
        run.close()
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").values == [1.0]
