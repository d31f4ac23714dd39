"""A training process that is meant to be SIGKILLed: ``crash_child.py REPO [RUN_HASH] [options]``.

It prints ``OPENING``, creates (or resumes) a run, makes ``run.started``/``run.resumed`` and the
params durable with ``run.flush()``, prints the run hash on the next line, then tracks metrics in
bursts forever:

* ``loss`` (context ``{"subset": "train"}``) at every step, auto-stepped, value ``loss_value(step)``;
* ``acc`` (context ``{"subset": "val"}``) at every ``ACC_EVERY``-th step, explicit step, tracked
  *before* that step's loss, value ``acc_value(step)``.

Side files in ``--state-dir`` (default: REPO), named after the run hash:

* ``<hash>.flushed``: one line ``FLUSHED <n>`` appended after every ``run.flush()`` returns:
  loss steps ``0..n-1`` (and everything tracked before them) must survive a SIGKILL. No fsync:
  SIGKILL keeps the page cache.
* ``<hash>.tracked``: a shared memory map, updated after every ``track()`` returns: a header
  ``<q`` with the number of loss steps tracked, then a ring of ``RING`` doubles holding the wall
  time at which loss step ``s`` was tracked (slot ``s % RING``, zeroed from the first step of a
  session on). The parent uses it to measure what a kill lost beyond the durable watermark.

The value functions and the file format are duplicated in ``tests/crash/checks.py`` (this
script must run with nothing but the ``aim`` package importable).
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import struct
import sys
import time
from pathlib import Path

from aim import Run

TRAIN = {"subset": "train"}
VAL = {"subset": "val"}
ACC_EVERY = 5
RING = 1 << 20
HEADER = struct.Struct("<q")
SLOT = struct.Struct("<d")


def loss_value(step: int) -> float:
    """Deterministic, exactly representable, different for every step."""
    return step * 0.25 + ((step * 7919) % 10007) / 1024.0


def acc_value(step: int) -> float:
    return ((step * 104729) % 1000) / 1000.0


def open_tracked(path: Path) -> mmap.mmap:
    size = HEADER.size + RING * SLOT.size
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("repo")
    p.add_argument("run_hash", nargs="?")
    p.add_argument("--state-dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flush-interval", type=float, default=0.05)
    p.add_argument("--segment-max-bytes", type=int, default=64 * 1024)
    p.add_argument("--burst-max", type=int, default=300, help="most tracks between pauses")
    p.add_argument("--sleep-max", type=float, default=0.01, help="longest pause between bursts")
    p.add_argument("--flush-prob", type=float, default=0.5, help="chance of flush() after a burst")
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    # The parent may aim its kill at the opening itself (create, resume): this line says it began.
    sys.stdout.write("OPENING\n")
    sys.stdout.flush()
    kwargs = {"flush_interval": args.flush_interval, "segment_max_bytes": args.segment_max_bytes}
    if args.run_hash is None:
        run = Run(repo=args.repo, **kwargs)
        run["hparams"] = {"seed": args.seed, "flush_interval": args.flush_interval}
        step = 0
    else:
        run = Run(run_hash=args.run_hash, repo=args.repo, **kwargs)
        loss = run.get_metric("loss", TRAIN)  # None when nothing of it was durable
        step = len(loss) if loss is not None else 0
    acc = run.get_metric("acc", VAL)
    acc_done = set(acc.steps) if acc is not None else set()
    run.flush()

    state_dir = Path(args.state_dir or args.repo)
    state_dir.mkdir(parents=True, exist_ok=True)
    tracked = open_tracked(state_dir / f"{run.hash}.tracked")
    # Forget what an earlier (killed) session tracked beyond the durable steps.
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
                run.track(acc_value(step), name="acc", step=step, context=VAL)
            run.track(loss_value(step), name="loss", context=TRAIN)
            SLOT.pack_into(tracked, HEADER.size + (step % RING) * SLOT.size, time.time())
            step += 1
            HEADER.pack_into(tracked, 0, step)
        if rng.random() < args.flush_prob:
            run.flush()
            os.write(flushed, f"FLUSHED {step}\n".encode())
        pause = rng.uniform(0, args.sleep_max)
        if pause:
            time.sleep(pause)


if __name__ == "__main__":
    main()
