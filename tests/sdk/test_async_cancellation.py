"""Async cancellation is exact (issue 14): a ``track`` that raises ``Cancelled`` recorded nothing,
one that returned recorded its value, on asyncio and on trio.

A producer with a tiny buffer (so that ``track`` keeps waiting for room, the one place it can be
cancelled) is cancelled at random moments, again and again; each cancelled step is tracked again
by the next round. What is on disk must be exactly the steps whose ``track`` returned, once each.
"""

from __future__ import annotations

import random

import anyio
import pytest

from aim import AsyncRun, Run


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_a_cancelled_track_recorded_nothing_and_a_returned_one_recorded_its_value(repo_path):
    rng = random.Random(1414)
    returned: list[int] = []
    cancelled_inside_track = 0
    async with AsyncRun(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False,
                        max_buffered_events=4) as run:
        step = 0
        for _round in range(60):
            with anyio.move_on_after(rng.uniform(0, 0.004)):
                while step < 100_000:
                    try:
                        await run.track(float(step), name="x", step=step)
                    except anyio.get_cancelled_exc_class():
                        cancelled_inside_track += 1
                        raise
                    returned.append(step)
                    step += 1
    back = Run(run.hash, repo=repo_path, read_only=True)
    seq = back.get_metric("x")
    assert cancelled_inside_track > 0  # the cancellations did land inside track()
    assert seq.steps == returned == list(range(len(returned)))
    assert seq.values == [float(s) for s in returned]
    # Every event once: a cancelled call that had recorded would show up as a repeated step.
    assert back._summary.sequences[("x", b"{}")][1] == len(returned)
