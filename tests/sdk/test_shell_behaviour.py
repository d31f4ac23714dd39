"""The behaviour suite of Run, run against both shells: sync ``Run`` and ``AsyncRun`` on asyncio
and on trio, so the two cannot drift apart.

The ``shell`` fixture hands each test the same synchronous interface for every variant:

* ``sync``: ``shell.open_run(...)`` is ``Run(...)``.
* ``asyncio``/``trio``: an event loop runs in a thread behind an anyio blocking portal. An
  ``AsyncRun`` is opened by ``async with`` in a host task on that loop (so its task group is
  entered and left by one task, as in real code), and the test gets a proxy whose every touch
  (awaited methods, plain methods, properties, item access, attribute assignment) runs on the
  loop thread through the portal.

Everything written is read back with the sync ``Run(h, repo=..., read_only=True)``, so both
shells are checked against the same reader. This is the one behaviour suite of both shells
(concurrent producers are threads for ``Run`` and tasks for ``AsyncRun``); Repo's own tests
are in test_repo.py.
"""

from __future__ import annotations

import asyncio
import math
import operator
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import anyio
import numpy as np
import pytest
import trio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from aim import (
    AsyncRun,
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

SHELLS = ["sync", "asyncio", "trio"]


# --- the two shells behind one interface ---------------------------------------------------------
class SyncShell:
    kind = "sync"

    def __init__(self) -> None:
        self._runs: list[Run] = []

    def open_run(self, *args: Any, **kwargs: Any) -> Run:
        kwargs.setdefault("system_tracking_interval", None)  # exact event counts: no samples
        run = Run(*args, **kwargs)
        self._runs.append(run)
        return run

    def peek(self, run: Run, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(the real run object)`` where the run lives (here: right away)."""
        return fn(run)

    def shutdown(self) -> None:
        for run in self._runs:
            if not run.read_only:
                try:
                    run.close()
                except Exception:
                    pass


class _Exit:
    """How the host task is asked to leave ``async with`` (made on the loop: anyio.Event)."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.exc: BaseException | None = None

    def request(self, exc: BaseException | None) -> None:
        self.exc = exc
        self.event.set()


async def _host(args: tuple[Any, ...], kwargs: dict[str, Any], *, task_status: Any) -> None:
    # Real async code opens and closes a run in one task: ``async with AsyncRun(...) as run``.
    # Errors raised while opening reach the test through portal.start_task.
    run = AsyncRun(*args, **kwargs)
    exit_ = _Exit()
    async with run:
        task_status.started((run, exit_))
        await exit_.event.wait()
        if exit_.exc is not None:
            raise exit_.exc


class AsyncRunProxy:
    """A synchronous stand-in for an AsyncRun living on the portal's loop."""

    def __init__(self, portal: BlockingPortal, run: AsyncRun, host: Future[None], exit_: _Exit) -> None:
        object.__setattr__(self, "_portal", portal)
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_host", host)
        object.__setattr__(self, "_exit", exit_)

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # portal.call awaits what returns an awaitable: ``await run.track(...)`` for coroutine
        # methods, a plain call on the loop thread for everything else.
        return self._portal.call(lambda: fn(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        value = self._call(getattr, self._run, name)
        if callable(value) and getattr(value, "__self__", None) is self._run:
            return lambda *args, **kwargs: self._call(value, *args, **kwargs)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        self._call(setattr, self._run, name, value)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._call(operator.setitem, self._run, key, value)

    def __getitem__(self, key: Any) -> Any:
        return self._call(operator.getitem, self._run, key)

    def __delitem__(self, key: Any) -> None:
        self._call(operator.delitem, self._run, key)

    def close(self) -> None:
        if not self._host.done():
            self._portal.call(self._exit.request, None)
            self._host.result(timeout=60)  # close()'s own error, if any, is raised here
        else:
            self._call(self._run.close)  # again: must be a no-op, as Run.close() is

    def __enter__(self) -> AsyncRunProxy:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            self.close()
            return False
        self._portal.call(self._exit.request, exc)
        try:
            self._host.result(timeout=60)
        except BaseException as raised:
            if raised is not exc:
                raise
        return False


class AsyncShell:
    def __init__(self, kind: str, portal: BlockingPortal) -> None:
        self.kind = kind
        self.portal = portal
        self._runs: list[AsyncRunProxy] = []

    def open_run(self, *args: Any, **kwargs: Any) -> AsyncRunProxy:
        kwargs.setdefault("system_tracking_interval", None)  # exact event counts: no samples
        host, (run, exit_) = self.portal.start_task(_host, args, kwargs)
        proxy = AsyncRunProxy(self.portal, run, host, exit_)
        self._runs.append(proxy)
        return proxy

    def peek(self, run: AsyncRunProxy, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(the real AsyncRun)`` on the loop thread."""
        return self.portal.call(fn, object.__getattribute__(run, "_run"))

    def shutdown(self) -> None:
        for proxy in self._runs:
            host = object.__getattribute__(proxy, "_host")
            if not host.done():
                self.portal.call(object.__getattribute__(proxy, "_exit").request, None)
                try:
                    host.result(timeout=30)
                except Exception:
                    pass


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> Iterator[SyncShell | AsyncShell]:
    if request.param == "sync":
        sync = SyncShell()
        yield sync
        sync.shutdown()
        return
    with start_blocking_portal(request.param) as portal:
        # The portal's loop really runs the requested library, in a thread of its own.
        assert portal.call(_loop_library) == request.param
        assert portal.call(threading.get_ident) != threading.get_ident()
        adapter = AsyncShell(request.param, portal)
        try:
            yield adapter
        finally:
            adapter.shutdown()


def _loop_library() -> str:
    try:
        asyncio.get_running_loop()
        return "asyncio"
    except RuntimeError:
        trio.lowlevel.current_task()  # raises outside trio
        return "trio"


def _events(run: Any) -> list[dict[str, Any]]:
    return list(iter_events(run.repo.layout.segment_paths(run.hash)))


def _read(run_hash: str, repo_path: Any) -> Run:
    return Run(run_hash, repo=repo_path, read_only=True)


# --- the suite -----------------------------------------------------------------------------------
def test_the_proxy_really_drives_an_async_run(shell, repo_path):
    run = shell.open_run(repo=repo_path)
    kind = shell.peek(run, lambda r: type(r).__name__)
    assert kind == ("Run" if shell.kind == "sync" else "AsyncRun")
    run.close()


def test_round_trip_through_close_and_reopen(shell, repo_path):
    run = shell.open_run(repo=repo_path, experiment="exp1")
    run["hparams"] = {"lr": 0.001, "layers": (64, 32), "opt": {"name": "adam", "betas": [0.9, 0.99]},
                      "nan": math.nan, "inf": -math.inf, "none": None, "flag": True}
    run["seed"] = 42
    run["hparams", "opt", "eps"] = 1e-8
    run.name = "baseline"
    run.description = "first try"
    run.add_tag("cnn")
    run.add_tag("small")
    run.remove_tag("small")
    assert run["hparams", "opt", "eps"] == 1e-8 and run.get("missing", "dflt") == "dflt"
    assert run.name == "baseline" and run.tags == ["cnn"]
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
    assert not run.active and run.status == "finished"

    back = _read(h, repo_path)
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
    assert back.get_metric("r", {"subset": "val"}).items() == [(7, 2)]
    assert sorted(((m.name, dict(m.context)) for m in back.metrics()), key=str) == sorted(
        [("loss", {"subset": "train"}), ("loss", {"subset": "val"}), ("grad", {}), ("acc", {}),
         ("p", {"subset": "val"}), ("r", {"subset": "val"})], key=str)
    assert back.get_metric("loss", {"subset": "test"}) is None  # as Aim answers a missing sequence
    events = _events(back)
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "run.started" and events[-1]["type"] == "run.finished"


def test_archived_flag_round_trips(shell, repo_path):
    run = shell.open_run(repo=repo_path)
    assert run.archived is False
    run.archived = True
    assert run.archived is True
    with pytest.raises(TypeError):
        run.experiment = ""
    with pytest.raises(TypeError):
        run.name = 3
    run.close()
    back = _read(run.hash, repo_path)
    assert back.archived is True and back.name is None and back.experiment == "default"


def test_resume_continues_steps_and_seq(shell, repo_path):
    run = shell.open_run(repo=repo_path)
    for _ in range(3):
        run.track(1.0, name="m")
    h = run.hash
    run.close()
    run2 = shell.open_run(run_hash=h, repo=repo_path)
    assert run2.hash == h and run2.status == "running"
    run2.track(2.0, name="m")
    run2.close()
    events = _events(run2)
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events].count("run.resumed") == 1
    assert _read(h, repo_path).get_metric("m").items() == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 2.0)]
    # Each writer session has its own segment; the first one was never appended to.
    assert [p.name for p in run2.repo.layout.segment_paths(h)] == ["00000000.jsonl.zst", "00000001.jsonl.zst"]


@pytest.mark.parametrize("first_is_shell", [True, False], ids=["shell-then-sync", "sync-then-shell"])
def test_resume_across_shells(shell, repo_path, first_is_shell):
    # The two shells write one format: either can continue what the other started.
    opener = [shell.open_run, Run] if first_is_shell else [Run, shell.open_run]
    run = opener[0](repo=repo_path, experiment="x")
    run["p"] = {"a": 1}
    run.track(1.0, name="m", context={"k": "v"})
    run.close()
    again = opener[1](run_hash=run.hash, repo=repo_path)
    assert again["p"] == {"a": 1} and again.experiment == "x"
    again.track(2.0, name="m", context={"k": "v"})
    again.close()
    events = _events(again)
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert _read(run.hash, repo_path).get_metric("m", {"k": "v"}).items() == [(0, 1.0), (1, 2.0)]


def test_resume_with_new_experiment_moves_it(shell, repo_path):
    run = shell.open_run(repo=repo_path, experiment="a")
    run.close()
    with shell.open_run(run.hash, repo=repo_path, experiment="b") as r2:
        assert r2.experiment == "b"
    assert Repo(repo_path).list_runs(experiment="b")[0]["hash"] == run.hash


def test_steps_explicit_repeated_and_below_counter(shell, repo_path):
    with shell.open_run(repo=repo_path) as run:
        run.track(1.0, name="m")          # step 0
        run.track(2.0, name="m", step=5)  # moves the counter to 6
        run.track(3.0, name="m")          # step 6
        run.track(4.0, name="m", step=5)  # repeated: a new event, readers keep the last
        run.track(5.0, name="m", step=2)  # below the counter: counter stays
        run.track(6.0, name="m")          # step 7
        run.track(7.0, name="m", step=np.int64(9))  # numpy ints are steps too
    seq = _read(run.hash, repo_path).get_metric("m")
    assert seq.items() == [(0, 1.0), (2, 5.0), (5, 4.0), (6, 3.0), (7, 6.0), (9, 7.0)]
    assert len([e for e in _events(run) if e["type"] == "metric"]) == 7


def test_contexts_are_independent_sequences_and_order_insensitive(shell, repo_path):
    with shell.open_run(repo=repo_path) as run:
        run.track(1.0, name="loss", context={"subset": "train", "fold": 1})
        run.track(2.0, name="loss", context={"fold": 1, "subset": "train"})
        run.track(3.0, name="loss", context={"subset": "val", "fold": 1})
        run.track(4.0, name="loss")
    back = _read(run.hash, repo_path)
    assert back.get_metric("loss", {"fold": 1, "subset": "train"}).items() == [(0, 1.0), (1, 2.0)]
    assert back.get_metric("loss", {"subset": "val", "fold": 1}).items() == [(0, 3.0)]
    assert back.get_metric("loss").items() == [(0, 4.0)]


def test_contexts_that_compare_equal_but_serialize_differently_stay_apart(shell, repo_path):
    with shell.open_run(repo=repo_path) as run:
        for ctx in ({"fold": 1}, {"fold": True}, {"fold": 1.0}, {"fold": "1"}, {"fold": 1}):
            run.track(1.0, name="m", context=ctx)
    back = _read(run.hash, repo_path)
    assert sorted(str(dict(c)) for _, c, _run in back.iter_metrics_info()) == sorted(
        ["{'fold': 1}", "{'fold': True}", "{'fold': 1.0}", "{'fold': '1'}"])
    assert back.get_metric("m", {"fold": 1}).steps == [0, 1]
    assert back.get_metric("m", {"fold": True}).steps == [0]
    assert back.get_metric("m", {"fold": 1.0}).steps == [0]
    assert back.get_metric("m", {"fold": "1"}).steps == [0]


def test_get_metric_on_a_live_run_sees_buffered_events(shell, repo_path):
    run = shell.open_run(repo=repo_path, flush_interval=60)
    for i in range(10):
        run.track(float(i), name="m")
    seq = run.get_metric("m")
    assert seq.steps == list(range(10)) and seq.values == [float(i) for i in range(10)]
    assert run.get_metric("nope") is None
    run.close()


def test_bad_param_raises_names_path_and_writes_nothing(shell, repo_path):
    run = shell.open_run(repo=repo_path)
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
    back = _read(run.hash, repo_path)
    assert back["ok"] == 1 and back.get("hparams") is None and back.get("x") is None


@pytest.mark.parametrize("value", ["0.5", None, [1.0], {"a": "x"}, True, np.array([1.0, 2.0])],
                         ids=["str", "None", "list", "dict-of-str", "bool", "array"])
def test_bad_metric_values_raise_and_record_nothing(shell, repo_path, value):
    with shell.open_run(repo=repo_path) as run:
        run.track(1.0, name="m")
        with pytest.raises(MetricValueError):
            run.track(value, name="m")
        run.track(2.0, name="m")
    assert _read(run.hash, repo_path).get_metric("m").items() == [(0, 1.0), (1, 2.0)]


@pytest.mark.parametrize("kwargs,exc", [
    ({"name": None}, MetricValueError), ({"name": ""}, MetricValueError),
    ({"name": "m", "step": -1}, ValueError), ({"name": "m", "step": 1.5}, MetricValueError),
    ({"name": "m", "epoch": "1"}, MetricValueError), ({"name": "m", "context": ["x"]}, TypeError),
])
def test_bad_track_arguments(shell, repo_path, kwargs, exc):
    with shell.open_run(repo=repo_path) as run:
        with pytest.raises(exc):
            run.track(1.0, **kwargs)
        assert run.metrics() == []
    assert [e["type"] for e in _events(run)] == ["run.started", "run.finished"]


def test_track_dict_is_all_or_nothing(shell, repo_path):
    with shell.open_run(repo=repo_path) as run:
        with pytest.raises(MetricValueError):
            run.track({"a": 1.0, "b": "bad"})
        with pytest.raises(MetricValueError):
            run.track({"a": 1.0}, name="x")
        with pytest.raises(MetricValueError):
            run.track({"a": 1.0, "": 2.0})
    assert run.metrics() == []
    assert [e["type"] for e in _events(run)] == ["run.started", "run.finished"]


def test_invalid_and_unknown_hashes(shell, repo_path):
    shell.open_run(repo=repo_path).close()
    with pytest.raises(InvalidRunHashError):
        shell.open_run("../../etc", repo=repo_path)
    with pytest.raises(RunNotFoundError):
        shell.open_run("0" * 24, repo=repo_path)
    with pytest.raises(RunNotFoundError):
        shell.open_run("0" * 24, repo=repo_path, read_only=True)
    with pytest.raises(ValueError, match="needs a run_hash"):
        shell.open_run(repo=repo_path, read_only=True)
    assert not Repo(repo_path).has_run("0" * 24)
    assert len(Repo(repo_path).list_all_runs()) == 1


def test_repo_path_that_is_a_file(shell, tmp_path):
    f = tmp_path / "notadir"
    f.write_text("precious")
    with pytest.raises(NotADirectoryRepoError):
        shell.open_run(repo=f)
    assert f.read_text() == "precious"


def test_second_writer_on_a_live_run_is_refused_and_loses_nothing(shell, repo_path):
    run = shell.open_run(repo=repo_path)
    run.track(1.0, name="m")
    with pytest.raises(RunLockedError, match="open for writing"):
        shell.open_run(run.hash, repo=repo_path)
    # The other shell is refused just the same (one lock, whoever holds it).
    with pytest.raises(RunLockedError, match="open for writing"):
        Run(run.hash, repo=repo_path)
    assert _read(run.hash, repo_path).status == "running"
    run.track(2.0, name="m")
    run.close()
    back = _read(run.hash, repo_path)
    assert back.get_metric("m").values == [1.0, 2.0] and back.status == "finished"
    assert [e["type"] for e in _events(back)].count("run.resumed") == 0


def test_read_only_and_closed_runs_refuse_writes(shell, repo_path):
    run = shell.open_run(repo=repo_path)
    run.close()
    run.close()  # idempotent
    with pytest.raises(RunClosedError):
        run.track(1.0, name="m")
    with pytest.raises(RunClosedError):
        run["x"] = 1
    ro = shell.open_run(run.hash, repo=repo_path, read_only=True)
    assert ro.status == "finished" and ro.read_only
    with pytest.raises(RunClosedError):
        ro.add_tag("x")
    with pytest.raises(RunClosedError):
        ro.track(1.0, name="m")
    with pytest.raises(RunClosedError):
        ro["x"] = 1
    with pytest.raises(RunClosedError):
        ro.name = "nope"
    ro.flush()  # nothing to write: returns
    events = _events(run)
    assert [e["type"] for e in events] == ["run.started", "run.finished"]
    # A read-only open takes no lock: a writer can resume while it is open.
    shell.open_run(run.hash, repo=repo_path).close()


def test_delete_param(shell, repo_path):
    with shell.open_run(repo=repo_path) as run:
        run["a"] = {"b": 1, "c": 2}
        del run["a", "b"]
        with pytest.raises(KeyError):
            del run["nope"]
        assert run["a"] == {"c": 2}
    assert _read(run.hash, repo_path)["a"] == {"c": 2}


def test_exception_inside_with_closes_as_failed(shell, repo_path):
    with pytest.raises(ZeroDivisionError), shell.open_run(repo=repo_path, flush_interval=30) as run:
        for _ in range(100):
            run.track(2.0, name="x")
        1 / 0  # noqa: B018
    back = _read(run.hash, repo_path)
    assert back.status == "failed" and len(back.get_metric("x").steps) == 100


def test_concurrent_producers_track_safely(shell, repo_path):
    # Four threads: for the async shells, four concurrent tasks on the loop.
    run = shell.open_run(repo=repo_path, max_buffered_events=1000)
    n = 2000

    def work(k):
        for i in range(n):
            run.track(float(i), name=f"t{k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.close()
    events = _events(run)
    assert [e["seq"] for e in events] == list(range(len(events)))
    back = _read(run.hash, repo_path)
    for k in range(4):
        seq = back.get_metric(f"t{k}")
        assert seq.steps == list(range(n)) and seq.values == [float(i) for i in range(n)]


def test_backpressure_waits_when_the_buffer_is_full(shell, repo_path):
    run = shell.open_run(repo=repo_path, max_buffered_events=100, flush_interval=60)
    gate = threading.Event()
    real_write = shell.peek(run, lambda r: r._writer.write)

    def gated_write(data):
        assert gate.wait(30)
        return real_write(data)

    shell.peek(run, lambda r: setattr(r._writer, "write", gated_write))  # the real write, later
    done = threading.Event()

    def producer():
        for i in range(1000):
            run.track(float(i), name="m")
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    try:
        assert not done.wait(1.0), "track should wait while the writer is stuck"
        # The async loop is not blocked by the waiting producer: this call is served meanwhile.
        assert shell.peek(run, lambda r: len(r._state.pending)) <= 100
    finally:
        gate.set()
    assert done.wait(30)
    t.join()
    run.close()
    assert _read(run.hash, repo_path).get_metric("m").steps == list(range(1000))


def test_several_runs_in_one_process_are_independent(shell, repo_path):
    runs = [shell.open_run(repo=repo_path, experiment="sweep") for _ in range(4)]
    for k, run in enumerate(runs):
        run["hparams"] = {"lr": 10.0 ** -k}
        for _i in range(k + 1):
            run.track(float(k), name="loss")
    for run in runs:
        run.close()
    repo = Repo(repo_path)
    assert sorted(repo.list_all_runs()) == sorted(r.hash for r in runs)
    assert len({r.hash for r in runs}) == 4
    for k, run in enumerate(runs):
        back = repo.get_run(run.hash)
        assert back["hparams"] == {"lr": 10.0 ** -k}
        assert back.get_metric("loss").steps == list(range(k + 1))


def test_default_repo_is_created_in_the_working_directory(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = shell.open_run()
    r.close()
    assert (tmp_path / ".aim" / "VERSION").exists()
    assert r.repo.path == tmp_path / ".aim"
    assert [x.hash for x in Repo(tmp_path).iter_runs()] == [r.hash]


def test_a_failing_disk_warns_once_keeps_events_and_close_reports_it(shell, repo_path):
    run = shell.open_run(repo=repo_path, flush_interval=0.05)
    run.track(1.0, name="m")
    run.flush()
    real_write = shell.peek(run, lambda r: r._writer.write)
    failing = [True]

    def write(data):
        if failing[0]:
            raise OSError(28, "No space left on device")
        return real_write(data)

    shell.peek(run, lambda r: setattr(r._writer, "write", write))  # at the real call site
    with pytest.warns(RuntimeWarning, match="No space left"):
        run.track(2.0, name="m")
        with pytest.raises(RunClosedError, match="not written"):
            run.flush()
    failing[0] = False  # space freed: the kept events are written on the next attempt
    run.track(3.0, name="m")
    run.flush()
    run.close()
    assert _read(run.hash, repo_path).get_metric("m").values == [1.0, 2.0, 3.0]


def test_close_with_a_dead_disk_raises_and_returns(shell, repo_path):
    run = shell.open_run(repo=repo_path, flush_interval=0.05)
    run.track(1.0, name="m")
    run.flush()

    def write(data):
        raise OSError(28, "No space left on device")

    shell.peek(run, lambda r: setattr(r._writer, "write", write))
    with pytest.warns(RuntimeWarning), pytest.raises(RunClosedError, match="not written"):
        run.track(2.0, name="m")
        run.close()
    back = _read(run.hash, repo_path)
    assert back.get_metric("m").values == [1.0]
    # The lock was released: the run can be resumed (and its lost event is really lost).
    shell.open_run(run.hash, repo=repo_path).close()
