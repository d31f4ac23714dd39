"""Run and AsyncRun (and Repo and AsyncRepo) offer the same names with the same parameters.

The async shells differ from the sync ones only where Python forces it (``await``, ``async
with``, no IO in a constructor). Every other difference is listed below with its reason, so a
name or parameter added to one shell and not the other fails here instead of drifting.
"""

from __future__ import annotations

import inspect
import threading

import anyio
import pytest

from aim import AsyncRepo, AsyncRun, Repo, Run, RunClosedError

# --- Run vs AsyncRun ----------------------------------------------------------------------------

# Names only AsyncRun has, and why.
ASYNC_RUN_ONLY = {
    "open": "a constructor cannot await: AsyncRun() does no IO, open() (or async with) opens the run",
}

# Names only Run has, and why (none: AsyncRun promises the same names, docs/async.md).
RUN_ONLY: dict[str, str] = {}

# Methods that wait for IO: coroutine functions on AsyncRun, plain functions on Run.
AWAITED = {"track", "get_metric", "close", "flush", "get_terminal_logs", "get_log_records", "dataframe"}

# Parameters of a shared method that only one shell has, and why.
#
# Run.flush(timeout=None): a blocking call needs its own timeout. AsyncRun.flush() takes none on
# purpose: async callers bound any await with a cancel scope (``with anyio.fail_after(t): await
# run.flush()``), which test_async_flush_is_bounded_by_a_cancel_scope checks below.
SYNC_ONLY_PARAMS = {("flush", "timeout"): "async callers use anyio.fail_after/move_on_after instead"}

# Dunder protocol each shell must (and must not) implement.
SHARED_DUNDERS = ("__setitem__", "__getitem__", "__delitem__", "__repr__")
RUN_DUNDERS = ("__enter__", "__exit__")
ASYNC_RUN_DUNDERS = ("__aenter__", "__aexit__")


def public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def params_of(func: object, drop: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(func).parameters.values() if p.name not in drop]  # type: ignore[arg-type]


def test_run_and_async_run_have_the_same_public_names() -> None:
    sync_names, async_names = public(Run), public(AsyncRun)
    assert sync_names - async_names == set(RUN_ONLY), "names Run has and AsyncRun lacks"
    assert async_names - sync_names == set(ASYNC_RUN_ONLY), "names AsyncRun has and Run lacks"
    # The lists are not stale: each listed name exists where it is said to.
    assert set(ASYNC_RUN_ONLY) <= async_names and set(RUN_ONLY) <= sync_names


def test_run_and_async_run_constructors_take_identical_parameters() -> None:
    sync_params = params_of(Run.__init__)
    async_params = params_of(AsyncRun.__init__)
    # Names, order, kinds (positional / keyword-only), defaults and annotations.
    assert async_params == sync_params
    assert [p.name for p in sync_params][:6] == [
        "self", "run_hash", "repo", "read_only", "experiment", "force_resume"]


@pytest.mark.parametrize("name", sorted(public(Run) & public(AsyncRun)))
def test_shared_run_names_have_the_same_kind_and_parameters(name: str) -> None:
    sync_attr = inspect.getattr_static(Run, name)
    async_attr = inspect.getattr_static(AsyncRun, name)
    if isinstance(sync_attr, property):
        assert isinstance(async_attr, property), f"{name} is a property on Run only"
        assert (sync_attr.fset is None) == (async_attr.fset is None), f"{name}: settable on one shell only"
        return
    assert callable(sync_attr) and callable(async_attr), name
    if name in AWAITED:
        assert inspect.iscoroutinefunction(async_attr), f"AsyncRun.{name} must be awaited"
        assert not inspect.iscoroutinefunction(sync_attr), f"Run.{name} must not be a coroutine"
    else:
        # Everything else only appends to the buffer or reads memory: plain calls on both
        # shells (an ``await`` forgotten on a coroutine would silently do nothing).
        assert not inspect.iscoroutinefunction(async_attr), f"AsyncRun.{name} should be a plain call"
        assert not inspect.iscoroutinefunction(sync_attr), name
    drop = tuple(p for (method, p) in SYNC_ONLY_PARAMS if method == name)
    assert params_of(async_attr) == params_of(sync_attr, drop=drop), f"{name}: parameters differ"


@pytest.mark.parametrize("method,param", sorted(SYNC_ONLY_PARAMS))
def test_sync_only_parameters_are_really_sync_only(method: str, param: str) -> None:
    assert param in inspect.signature(getattr(Run, method)).parameters
    assert param not in inspect.signature(getattr(AsyncRun, method)).parameters


def test_the_four_awaited_methods_have_the_documented_parameters() -> None:
    # Pinned explicitly (not only "equal to Run"), so changing both shells at once is visible.
    assert [(p.name, p.kind.name, p.default) for p in params_of(AsyncRun.track)] == [
        ("self", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("value", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("name", "POSITIONAL_OR_KEYWORD", None),
        ("step", "POSITIONAL_OR_KEYWORD", None),
        ("epoch", "POSITIONAL_OR_KEYWORD", None),
        ("context", "KEYWORD_ONLY", None),
    ]
    assert [p.name for p in params_of(AsyncRun.get_metric)] == ["self", "name", "context"]
    assert [p.name for p in params_of(AsyncRun.close)] == ["self"]
    assert [p.name for p in params_of(AsyncRun.flush)] == ["self"]
    assert [p.name for p in params_of(Run.flush)] == ["self", "timeout"]


def test_context_manager_protocols() -> None:
    for name in SHARED_DUNDERS:
        assert params_of(getattr(AsyncRun, name)) == params_of(getattr(Run, name)), name
    for name in RUN_DUNDERS:
        assert hasattr(Run, name) and not hasattr(AsyncRun, name), (
            f"AsyncRun must not offer {name}: a plain `with AsyncRun()` could never open or close it")
    for name in ASYNC_RUN_DUNDERS:
        assert inspect.iscoroutinefunction(getattr(AsyncRun, name)) and not hasattr(Run, name), name


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_flush_is_bounded_by_a_cancel_scope(repo_path, anyio_backend) -> None:
    # The documented replacement for Run.flush(timeout=...): with the disk write stuck, a
    # cancel scope ends the wait, and the events are written once the disk moves again.
    gate = threading.Event()
    async with AsyncRun(repo=repo_path, flush_interval=60) as run:
        real_write = run._writer.write

        def stuck_write(data):
            gate.wait(30)
            return real_write(data)

        run._writer.write = stuck_write
        await run.track(1.0, name="m")
        with anyio.move_on_after(0.3) as scope:
            await run.flush()
        assert scope.cancelled_caught, "flush() returned while the write was stuck"
        gate.set()
        with anyio.fail_after(10):
            await run.flush()
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").values == [1.0]

    # For comparison, the sync shell's own timeout reports the same situation as an error.
    gate.clear()
    sync_run = Run(repo=repo_path, flush_interval=60)
    real_sync_write = sync_run._writer.write
    sync_run._writer.write = lambda data: (gate.wait(30), real_sync_write(data))[1]
    sync_run.track(1.0, name="m")
    with pytest.raises(RunClosedError, match="timeout"):
        sync_run.flush(timeout=0.3)
    gate.set()
    sync_run.close()


# --- Repo vs AsyncRepo --------------------------------------------------------------------------

# Repo names AsyncRepo does not offer, and why. The rule (see the module docstring of
# async_repo.py): every operation that does IO has an awaitable twin; only helpers that need no
# IO may be left to ``async_repo.repo``.
ASYNC_REPO_MISSING_OK = {
    "root_path": "pure path arithmetic on the .aim folder (no IO): use async_repo.path.parent",
    "index": "the raw synchronous sqlite handle: an async shell must not hand loop code a blocking "
             "object; every index read AsyncRepo offers runs in a worker thread",
}

# Parameters whose annotation may differ, and why.
ASYNC_REPO_WIDER_PARAMS = {
    ("copy_runs", "dest"): "also accepts an AsyncRepo",
    ("move_runs", "dest"): "also accepts an AsyncRepo",
}

# Repo names that AsyncRepo offers as plain (not awaited) attributes, and why.
ASYNC_REPO_NOT_AWAITED = {
    "path": "a property holding a Path, no IO",
    "from_path": "a classmethod coroutine: checked separately",
    "iter_runs": "an async generator (`async for run in repo.iter_runs()`): checked separately",
}


def test_async_repo_offers_every_repo_operation() -> None:
    missing = public(Repo) - public(AsyncRepo)
    unexplained = sorted(missing - set(ASYNC_REPO_MISSING_OK))
    assert not unexplained, (
        f"Repo names with no AsyncRepo counterpart and no listed reason: {unexplained}")
    assert set(ASYNC_REPO_MISSING_OK) <= missing, "ASYNC_REPO_MISSING_OK lists names AsyncRepo has"
    # Nothing extra at class level; each instance carries ``repo``, the wrapped sync Repo.
    assert public(AsyncRepo) - public(Repo) == set()


def test_async_repo_is_constructed_by_an_awaited_from_path() -> None:
    # The constructors differ on purpose: Repo(path) opens (IO); AsyncRepo(repo) only wraps an
    # open Repo, and ``await AsyncRepo.from_path(path, init=...)`` is the async way to open.
    assert [p.name for p in params_of(AsyncRepo.__init__)] == ["self", "repo"]
    assert isinstance(inspect.getattr_static(AsyncRepo, "from_path"), classmethod)
    assert inspect.iscoroutinefunction(AsyncRepo.from_path)
    assert params_of(AsyncRepo.from_path) == params_of(Repo.from_path)


@pytest.mark.parametrize("name", sorted((public(Repo) & public(AsyncRepo)) - set(ASYNC_REPO_NOT_AWAITED)))
def test_shared_repo_methods_are_awaitables_with_the_same_parameters(name: str) -> None:
    sync_attr, async_attr = getattr(Repo, name), getattr(AsyncRepo, name)
    assert inspect.iscoroutinefunction(async_attr), f"AsyncRepo.{name} must be awaited"
    sync_params, async_params = params_of(sync_attr), params_of(async_attr)
    assert [(p.name, p.kind, p.default) for p in async_params] == [
        (p.name, p.kind, p.default) for p in sync_params], f"{name}: parameters differ"
    for sp, ap in zip(sync_params, async_params):
        if (name, sp.name) not in ASYNC_REPO_WIDER_PARAMS:
            assert ap.annotation == sp.annotation, f"{name}({sp.name}): annotations differ"


def test_path_is_a_property_on_both() -> None:
    assert isinstance(inspect.getattr_static(Repo, "path"), property)
    assert isinstance(inspect.getattr_static(AsyncRepo, "path"), property)


def test_async_repo_iter_runs_is_an_async_generator() -> None:
    assert inspect.isasyncgenfunction(AsyncRepo.iter_runs)
    assert params_of(AsyncRepo.iter_runs) == params_of(Repo.iter_runs)
