"""Track a few events, then leave in the way argv[2] says. Prints the run hash first.

Modes: normal, exception, sigterm, sigint, with_exception, with_sys_exit_1, sys_exit_1, fork.
"""

import os
import signal
import sys
import time

from aim import Run

repo, mode = sys.argv[1], sys.argv[2]


def track_some(run):
    for i in range(100):
        run.track(i * 0.25, name="loss", context={"subset": "train"})


if mode in ("with_exception", "with_sys_exit_1"):
    with Run(repo=repo) as run:
        print(run.hash, flush=True)
        track_some(run)
        if mode == "with_sys_exit_1":
            sys.exit(1)
        raise ValueError("boom")

run = Run(repo=repo, flush_interval=30)  # long interval: only the exit path can write these
print(run.hash, flush=True)
track_some(run)
if mode == "exception":
    raise RuntimeError("training failed")
if mode == "sigterm":
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
if mode == "sigint":
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
if mode == "sys_exit_1":
    sys.exit(1)
if mode == "fork":
    pid = os.fork()
    if pid == 0:
        # A DataLoader-style worker: it must not write into the parent's log, and leaving
        # normally (atexit runs) must not close the parent's run either.
        try:
            run.track(1.0, name="from_child")
            print("child-tracked", flush=True)
        except Exception as exc:
            print(f"child-refused {type(exc).__name__}", flush=True)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    print(f"child-exit {os.waitstatus_to_exitcode(status)}", flush=True)
    run.track(2.0, name="after_fork")
