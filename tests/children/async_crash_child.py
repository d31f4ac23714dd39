"""An async training process meant to be SIGKILLed: ``async_crash_child.py REPO [RUN_HASH] [options]``.

The async twin of ``crash_child.py`` (same metrics, values and side files, so the parent checks
it with the same ``tests/crash/checks.py`` helpers), driven by ``AsyncRun`` on asyncio or trio
(``--backend``):

* ``async with AsyncRun(repo=REPO, flush_interval=...)`` creates (or resumes) the run; the new
  run's params and ``run.started``/``run.resumed`` are made durable with ``await run.flush()``,
  then the hash is printed on stdout line 1;
* it tracks in bursts: ``acc`` (context ``{"subset": "val"}``, explicit step, every
  ``ACC_EVERY``-th step, before that step's loss) and ``loss`` (context ``{"subset": "train"}``,
  auto-stepped); after every ``await run.track`` of a loss step the ``.tracked`` memory map is
  updated;
* after each burst it awaits ``run.flush()`` and then appends ``FLUSHED <n>`` to
  ``<hash>.flushed``: loss steps ``0..n-1`` must survive a SIGKILL;
* a heartbeat task shares the loop, so the flush task is not the only other task.

Only ``aim``, ``anyio`` (and ``trio``) are needed, plus ``crash_child.py`` from this folder (the
value functions and the side-file format live there).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import anyio
from crash_child import ACC_EVERY, HEADER, RING, SLOT, TRAIN, VAL, acc_value, loss_value, open_tracked

from aim import AsyncRun


async def train(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    kwargs = {"flush_interval": args.flush_interval, "segment_max_bytes": args.segment_max_bytes}
    run = AsyncRun(run_hash=args.run_hash, repo=args.repo, **kwargs)
    async with run, anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        if args.run_hash is None:
            run["hparams"] = {"seed": args.seed, "flush_interval": args.flush_interval,
                              "backend": args.backend}
            step = 0
        else:
            loss = await run.get_metric("loss", TRAIN)  # None when nothing of it was durable
            step = len(loss) if loss is not None else 0
        acc = await run.get_metric("acc", VAL)
        acc_done = set(acc.steps) if acc is not None else set()
        await run.flush()

        state_dir = Path(args.state_dir or args.repo)
        state_dir.mkdir(parents=True, exist_ok=True)
        tracked = open_tracked(state_dir / f"{run.hash}.tracked")
        start = HEADER.size + min(step, RING) * SLOT.size
        tracked[start:] = bytes(len(tracked) - start)
        HEADER.pack_into(tracked, 0, step)
        flushed = os.open(state_dir / f"{run.hash}.flushed", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(flushed, f"FLUSHED {step}\n".encode())

        sys.stdout.write(run.hash + "\n")
        sys.stdout.flush()

        while True:
            for _ in range(rng.randint(1, args.burst_max)):
                if step % ACC_EVERY == 0 and step not in acc_done:
                    await run.track(acc_value(step), name="acc", step=step, context=VAL)
                await run.track(loss_value(step), name="loss", context=TRAIN)
                SLOT.pack_into(tracked, HEADER.size + (step % RING) * SLOT.size, time.time())
                step += 1
                HEADER.pack_into(tracked, 0, step)
            await run.flush()
            os.write(flushed, f"FLUSHED {step}\n".encode())
            await anyio.sleep(rng.uniform(0, args.sleep_max))


async def heartbeat() -> None:
    while True:
        await anyio.sleep(0.005)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("repo")
    p.add_argument("run_hash", nargs="?")
    p.add_argument("--backend", choices=["asyncio", "trio"], required=True)
    p.add_argument("--state-dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flush-interval", type=float, default=0.05)
    p.add_argument("--segment-max-bytes", type=int, default=64 * 1024)
    p.add_argument("--burst-max", type=int, default=300, help="most tracks between flushes")
    p.add_argument("--sleep-max", type=float, default=0.01, help="longest pause after a flush")
    args = p.parse_args(argv)
    anyio.run(train, args, backend=args.backend)


if __name__ == "__main__":
    main()
