"""A training-like script for the capture tests: ``capture_child.py REPO MODE``.

Prints the run's hash as the last line of stdout (after the run closed, so it is not captured).
Modes: system, nosystem, gpu, terminal, exception_restore, secret, async_terminal, follow,
not_a_file (sys.stdout replaced by an object without a file descriptor, as in Jupyter).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

from aim import Run

repo, mode = sys.argv[1], sys.argv[2]


def bar(n: int) -> None:
    # tqdm-style: every update redraws the line from column 0; the close ends it.
    for i in range(n + 1):
        sys.stderr.write(f"\r{i * 100 // n:3d}%|{'#' * (i * 10 // n):10s}| {i}/{n}")
    sys.stderr.write("\n")
    sys.stderr.flush()


if mode in ("system", "nosystem", "gpu"):
    interval = None if mode == "nosystem" else 0.2
    run = Run(repo=repo, system_tracking_interval=interval, capture_terminal_logs=False)
    for step in range(12):
        run.track(1.0 / (step + 1), name="loss")
        sum(i * i for i in range(200_000))  # some CPU work
        time.sleep(0.1)
    run.close()
elif mode == "terminal":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    run = Run(repo=repo, system_tracking_interval=None)
    print("hello from print", flush=True)
    logging.info("from logging")
    os.write(1, b"raw write to fd 1\n")
    os.write(2, b"raw write to fd 2\n")
    subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
    bar(10_000)
    run.log_info("records too", epoch=3)
    print("last line", flush=True)
    run.close()
elif mode == "exception_restore":
    before = os.fstat(1).st_ino, os.fstat(2).st_ino
    stdout = sys.stdout
    try:
        with Run(repo=repo, system_tracking_interval=None) as run:
            print("inside the run", flush=True)
            raise ValueError("boom")
    except ValueError:
        pass
    after = os.fstat(1).st_ino, os.fstat(2).st_ino
    print(f"restored {before == after and sys.stdout is stdout}", flush=True)
elif mode == "secret":
    run = Run(repo=repo, system_tracking_interval=None, log_system_params=True,
              capture_terminal_logs=False)
    run.track(1.0, name="loss")
    run.close()
elif mode == "async_terminal":
    import anyio

    from aim import AsyncRun

    async def main() -> str:
        async with AsyncRun(repo=repo, system_tracking_interval=0.2) as run:
            print("from an async loop", flush=True)
            for step in range(5):
                await run.track(float(step), name="loss")
                await anyio.sleep(0.1)
        return run.hash

    h = anyio.run(main)
    print(h)
    sys.exit(0)
elif mode == "follow":
    run = Run(repo=repo, system_tracking_interval=None, flush_interval=0.1)
    print(run.hash, file=sys.stderr, flush=True)  # the test reads the hash while the run lives
    for i in range(8):
        print(f"line {i}", flush=True)
        time.sleep(0.25)
    run.close()
elif mode == "not_a_file":
    class Notebook:
        """Like ipykernel's stream: no file descriptor behind it."""

        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, s: str) -> int:
            self.parts.append(s)
            return len(s)

        def flush(self) -> None:
            pass

    real = sys.stdout
    sys.stdout = Notebook()
    run = Run(repo=repo, system_tracking_interval=None)
    print("into the notebook")
    run.close()
    seen = "".join(sys.stdout.parts)
    sys.stdout = real
    print(f"notebook saw {seen!r}")
elif mode == "two_runs":
    # Two runs share the process's capture: each records what was written while it was open.
    first = Run(repo=repo, system_tracking_interval=None)
    print("both open", flush=True)
    run = Run(repo=repo, system_tracking_interval=None)
    print("still both", flush=True)
    first.close()
    print("second only", flush=True)
    run.close()
    print(first.hash)
elif mode == "python_forced":
    run = Run(repo=repo, system_tracking_interval=None)  # AIM_CAPTURE_MODE=python
    print("via sys.stdout", flush=True)
    os.write(1, b"via the descriptor\n")  # not seen by a Python-level capture
    run.close()
else:
    raise SystemExit(f"unknown mode {mode}")

print(run.hash)
