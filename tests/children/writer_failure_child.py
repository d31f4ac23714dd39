"""Make the real writer fail, and report what the SDK said: ``writer_failure_child.py REPO MODE``.

MODE:
* ``encode``: an event the encoder cannot serialize is put in the run's buffer (values are made
  plain at the call, so only a bug could put one there: this stands in for that bug).
* ``io-once``: the next write of a segment fails once with EIO (a transient device error).
* ``io-always``: every write of a segment fails with EIO from then on.

Steps 0..4 of ``loss`` are tracked and flushed first (durable), then steps 5..7 with the fault
between 5 and 6. Prints the run hash, then one line per call after the fault:
``<call> ok`` or ``<call> <ExceptionType>: <message>``.
"""

from __future__ import annotations

import errno
import os
import sys

from aim import Run

repo, mode = sys.argv[1], sys.argv[2]
run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False, flush_interval=30)
print(run.hash, flush=True)
for step in range(5):
    run.track(step * 0.5, name="loss", step=step)
run.flush()
run.track(2.5, name="loss", step=5)


class Unencodable:
    def __repr__(self) -> str:
        return "<Unencodable>"


if mode == "encode":
    with run._lock:  # the buffer's own lock: the flusher takes its batches under it
        run._state.pending[-1]["value"] = Unencodable()
else:
    real_write = os.write
    failures = {"left": 1 if mode == "io-once" else 10**9}

    def failing_write(fd: int, data: bytes) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if "/events/" in target and failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_write(fd, data)

    os.write = failing_write

run.track(3.0, name="loss", step=6)
run.track(3.5, name="loss", step=7)


def attempt(label: str, call: object) -> None:
    try:
        call()  # type: ignore[operator]
        print(f"{label} ok", flush=True)
    except Exception as exc:
        print(f"{label} {type(exc).__name__}: {exc}", flush=True)


attempt("flush", run.flush)
attempt("track", lambda: run.track(4.0, name="loss", step=8))
attempt("close", run.close)
attempt("close-again", run.close)
print(f"status {run.status}", flush=True)
