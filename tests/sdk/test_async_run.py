"""AsyncRun on asyncio and trio: round trip, backpressure, cancellation, exceptions."""

from __future__ import annotations

import math

import anyio
import pytest

from aim import AsyncRepo, AsyncRun, Run

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


async def test_round_trip_and_resume(repo_path):
    async with AsyncRun(repo=repo_path, experiment="async") as run:
        run["hparams"] = {"lr": 0.1, "nan": math.nan}
        run.add_tag("a")
        for i in range(1000):
            await run.track(i * 0.5, name="loss", context={"subset": "train"})
        await run.track({"p": 1.0, "r": 2.0}, step=3)
        seq = await run.get_metric("loss", {"subset": "train"})
        assert seq.steps == list(range(1000))
    async with AsyncRun(run.hash, repo=repo_path) as again:
        await again.track(7.0, name="loss", context={"subset": "train"})
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.status == "finished" and back.experiment == "async" and back.tags == ["a"]
    assert math.isnan(back["hparams"]["nan"])
    assert back.get_metric("loss", {"subset": "train"}).items()[-1] == (1000, 7.0)
    assert back.get_metric("p").items() == [(3, 1.0)]


async def test_backpressure_waits_without_blocking_the_loop(repo_path):
    ticks = 0

    async def heartbeat():
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        async with AsyncRun(repo=repo_path, max_buffered_events=500) as run:
            for i in range(20_000):
                await run.track(float(i), name="m")
                assert len(run._state.pending) <= 500
        tg.cancel_scope.cancel()
    assert ticks > 1
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").steps == list(range(20_000))


async def test_cancelled_scope_still_closes_and_keeps_everything(repo_path):
    tracked = 0
    with anyio.move_on_after(0.3):
        async with AsyncRun(repo=repo_path, flush_interval=30) as run:
            while True:
                await run.track(1.0, name="x")
                tracked += 1
                if tracked % 50 == 0:
                    await anyio.sleep(0.001)
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.status == "terminated"
    assert len(back.get_metric("x").steps) == tracked > 0


async def test_exception_inside_closes_as_failed(repo_path):
    with pytest.raises(ValueError):
        async with AsyncRun(repo=repo_path, flush_interval=30) as run:
            for _ in range(100):
                await run.track(2.0, name="x")
            raise ValueError("boom")
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.status == "failed" and len(back.get_metric("x").steps) == 100


async def test_async_repo_management(repo_path, tmp_path):
    hashes = []
    for _ in range(3):
        async with AsyncRun(repo=repo_path) as run:
            await run.track(1.0, name="only-here")
        hashes.append(run.hash)
    repo = await AsyncRepo.from_path(repo_path)
    assert sorted(await repo.list_all_runs()) == sorted(hashes)
    assert await repo.delete_run(hashes[0])
    assert await repo.get_run(hashes[0]) is None
    assert (await repo.get_run(hashes[1])).hash == hashes[1]
    assert (await repo.prune()).runs == [hashes[0]]
    dest = await AsyncRepo.from_path(tmp_path / "dest", init=True)
    assert await repo.move_runs([hashes[1]], dest) == (True, [])
    assert await dest.list_all_runs() == [hashes[1]]
    assert await repo.verify() == [] and await dest.verify() == []


async def test_writes_before_open_say_what_to_do(repo_path):
    from aim import RunClosedError

    run = AsyncRun(repo=repo_path)
    with pytest.raises(RunClosedError, match="not open yet"):
        await run.track(1.0, name="m")
    with pytest.raises(RunClosedError, match="not open yet"):
        run["x"] = 1
    assert not (repo_path / ".aim").exists()  # the constructor did no IO
    await run.open()
    await run.track(1.0, name="m")
    await run.close()
    assert Run(run.hash, repo=repo_path, read_only=True).get_metric("m").values == [1.0]


async def test_reading_logs_and_the_dataframe_is_awaited_off_the_loop(repo_path):
    async with AsyncRun(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run["hparams"] = {"lr": 0.1}
        run.log_info("epoch done", epoch=1)
        records = await run.get_log_records()  # a writer flushes first: the record is there
        got = [(r.level_name, r.message, r.extra_args) for r in records]
        assert got == [("INFO", "epoch done", {"epoch": 1})]
        assert await run.get_terminal_logs() is None  # nothing captured
        frame = await run.dataframe()
        assert frame["hparams.lr"][0] == 0.1 and frame["hash"][0] == run.hash
