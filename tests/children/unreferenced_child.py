"""Runs whose last reference goes while the process lives on: ``unreferenced_child.py REPO MODE``.

* ``del``: create a run (default capture: system tracking and terminal output), track, ``del``
  it, then reopen it by hash in this same process and print ``reopened <status before>``.
* ``rebind``: ``run = Run()`` 100 times, as a notebook cell run again and again; print every
  hash, then ``ready``, and wait for a line on stdin before exiting (the last run still open).
"""

import sys

from aim import Run

repo, mode = sys.argv[1], sys.argv[2]

if mode == "del":
    run = Run(repo=repo, experiment="gone")
    run_hash = run.hash
    for step in range(10):
        run.track(step * 0.1, name="loss", step=step)
    print("printed while the run captures", flush=True)
    del run
    back = Run(run_hash, repo=repo, read_only=True)
    status = back.status
    again = Run(run_hash, repo=repo)  # RunLockedError if the old object still held the lock
    again.track(1.0, name="loss", step=10)
    again.close()
    print(run_hash, flush=True)
    print(f"reopened {status}", flush=True)
else:
    hashes = []
    for i in range(100):
        run = Run(repo=repo, experiment="cells")
        run["i"] = i
        run.track(float(i), name="x", step=0)
        hashes.append(run.hash)
    print(" ".join(hashes), flush=True)
    print("ready", flush=True)
    sys.stdin.readline()
