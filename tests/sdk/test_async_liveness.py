"""A loop that does nothing but ``await run.track(...)`` must not starve the event loop.

``AsyncRun.track`` only appends to the buffer; it suspends when the buffer is full and takes a
bare checkpoint every 10 ms, and all IO happens in other threads (docs/async.md). So a
heartbeat task on the same loop, sleeping 10 ms at a time, keeps waking up on time while one
million events are tracked, and every event is on disk after close.
"""

from __future__ import annotations

import gc
import time

import anyio
import pytest

from aim import AsyncRun, Run

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

N = 1_000_000
BEAT = 0.010  # the heartbeat's sleep
MAX_DELAY = 0.100  # the most a wake-up may be late


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture(autouse=True)
def frozen_heap():
    # What is measured is this library's share of the loop's time. By the time this test runs,
    # the test process holds everything earlier tests imported (boto3, moto, numpy...): one
    # full garbage collection over that heap took over 200 ms on a loaded CI machine, a pause
    # that is the suite's, not aim's. Freezing moves those objects out of the collector's way.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def test_a_million_tracks_keep_the_loop_responsive_and_reach_disk(repo_path, anyio_backend):
    delays: list[float] = []
    stopping = False

    async def heartbeat(*, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            expected = time.monotonic() + BEAT
            await anyio.sleep(BEAT)
            delays.append(time.monotonic() - expected)
            if stopping:
                return

    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        await tg.start(heartbeat)
        async with AsyncRun(repo=repo_path) as run:
            t_open = time.monotonic()
            for i in range(N):
                await run.track(float(i), name="m")
            t_tracked = time.monotonic()
        t_closed = time.monotonic()
        stopping = True  # the heartbeat records one more wake-up, then ends
    worst = max(delays)
    print(f"\n{anyio_backend}: open {t_open - t0:.2f}s, {N} tracks {t_tracked - t_open:.2f}s, "
          f"close {t_closed - t_tracked:.2f}s; {len(delays)} beats, worst delay {worst * 1000:.1f} ms, "
          f"median {sorted(delays)[len(delays) // 2] * 1000:.1f} ms")
    assert worst < MAX_DELAY, f"the event loop was blocked for {worst * 1000:.0f} ms"
    # The heartbeat ran all along: wake-ups at most BEAT + MAX_DELAY apart cover the whole time.
    assert len(delays) >= (t_closed - t0) / (BEAT + MAX_DELAY)

    def read_back() -> tuple[str, list[int], list[float]]:
        back = Run(run.hash, repo=repo_path, read_only=True)
        seq = back.get_metric("m")
        return back.status, seq.steps, seq.values

    status, steps, values = await anyio.to_thread.run_sync(read_back)
    assert status == "finished"
    assert len(steps) == N
    assert steps == list(range(N))
    assert values == [float(i) for i in range(N)]
